// Who ran what and where runs are kept, as the Runs view, the runs table and the status
// bar say it.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { isTeamStore, runUser, severalUsers, targetTooltip, whoRan } from "../src/teamStore";

describe("who ran a run", () => {
  it("is the email, else the name, else nothing", () => {
    assert.equal(runUser({ userName: "Ada", userEmail: "ada@example.com" }), "ada@example.com");
    assert.equal(runUser({ userName: "Ada", userEmail: null }), "Ada");
    assert.equal(runUser({ userName: "", userEmail: "" }), null);
    assert.equal(runUser({}), null);
  });

  it("says the name, the email and the machine in full where known", () => {
    assert.equal(whoRan({ userName: "Ada", userEmail: "ada@example.com", machine: "lap" }), "Ada <ada@example.com> on lap");
    assert.equal(whoRan({ userName: "Ada", machine: null }), "Ada");
    assert.equal(whoRan({ userEmail: "ada@example.com" }), "ada@example.com");
    assert.equal(whoRan({ machine: "lap" }), "on lap");
    assert.equal(whoRan({}), null);
  });
});

describe("runs of several users", () => {
  it("are told apart only where more than one user ran them", () => {
    const ada = { userName: "Ada", userEmail: "ada@example.com" };
    assert.ok(!severalUsers([]));
    assert.ok(!severalUsers([ada, ada, {}]));
    assert.ok(severalUsers([ada, {}, { userName: "Grace" }]));
  });
});

describe("the run store", () => {
  it("is a team's when PostgreSQL", () => {
    assert.ok(isTeamStore("postgresql://runyard:***@db/ml"));
    assert.ok(isTeamStore("postgres://db/ml"));
    assert.ok(!isTeamStore("/home/ada/proj/.runyard/state/runyard.db"));
    assert.ok(!isTeamStore(undefined) && !isTeamStore(null));
  });

  it("is named in the status bar's tooltip", () => {
    assert.equal(
      targetTooltip("local", "/p/", null),
      "Runyard: runs go to local. Click to change.\nRun store: /p/.runyard/state/runyard.db (SQLite, this project's own)",
    );
    assert.equal(
      targetTooltip(null, "/p", undefined),
      "Runyard: runs go to (no default target). Click to change.\nRun store: /p/.runyard/state/runyard.db (SQLite, this project's own)",
    );
    assert.equal(
      targetTooltip("gpu", "/p", "postgresql://ada:***@db.example.com/ml"),
      "Runyard: runs go to gpu. Click to change.\nRun store: postgresql://ada:***@db.example.com/ml (team store, PostgreSQL)",
    );
    assert.equal(
      targetTooltip("gpu", "/p", "not usable: the store is not a text"),
      "Runyard: runs go to gpu. Click to change.\nRun store: not usable: the store is not a text",
    );
  });
});
