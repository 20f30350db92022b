// The import offer's pure part (src/importOfferText.ts): which importer a folder fits (the
// server's core.importers.detect order, none once .runyard/ is there) and the summary
// of a result, in the words `runyard import` prints.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { importKind, offerText, summary } from "../src/importOfferText";

describe("importKind", () => {
  it("offers Workbench first, MLflow next, nothing for a Runyard project", () => {
    assert.equal(importKind({ amlConfig: true, mlproject: true, runyard: false }), "aml-workbench");
    assert.equal(importKind({ amlConfig: false, mlproject: true, runyard: false }), "mlflow-project");
    assert.equal(importKind({ amlConfig: true, mlproject: true, runyard: true }), undefined);
    assert.equal(importKind({ amlConfig: false, mlproject: false, runyard: false }), undefined);
  });

  it("names the kind in the offer", () => {
    assert.match(offerText("iris", "aml-workbench"), /^iris is an Azure ML Workbench project \(aml_config\/\)\./);
  });
});

describe("summary", () => {
  it("lists files, notes and problems, naming file and key", () => {
    const s = summary({
      root: "/p",
      kind: "aml-workbench",
      written: [".runyard/targets/vm.yml"],
      notes: [{ source: "aml_config/vm.compute", key: "password", message: "the password was not copied" }],
      problems: [{ source: "aml_config/vm.runconfig", key: "ArgumentVector", message: "run again with --script FILE" }],
    });
    assert.equal(s.ok, false);
    assert.deepEqual(s.lines, [
      "wrote .runyard/targets/vm.yml",
      "note: aml_config/vm.compute (password): the password was not copied",
      "not done: aml_config/vm.runconfig (ArgumentVector): run again with --script FILE",
    ]);
    assert.equal(
      s.message,
      "Runyard wrote 1 file from aml_config/; 1 thing could not be imported: aml_config/vm.runconfig (ArgumentVector): run again with --script FILE.",
    );
  });

  it("says how many notes when all was done", () => {
    const s = summary({
      root: "/p",
      kind: "mlflow-project",
      written: [".runyard/jobs/main.yml", ".runyard/targets/docker.yml"],
      notes: [{ source: "MLproject", message: "image used as is" }],
      problems: [],
    });
    assert.equal(s.ok, true);
    assert.equal(s.message, "Runyard wrote 2 files from MLproject (1 note in the Runyard log).");
    assert.equal(s.lines[2], "note: MLproject: image used as is");
  });
});
