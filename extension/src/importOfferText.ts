// The import offer's pure part, without VS Code (unit-tested in node): which importer a
// folder fits and what the offer and its outcome say. importOffer.ts uses it.
import type { ImportNote, ProjectImportResult } from "./protocol";

export type ImportKind = "aml-workbench" | "mlflow-project";

export interface FolderShape {
  amlConfig: boolean; // aml_config/ is a folder
  mlproject: boolean; // MLproject is a file
  runyard: boolean; // .runyard/ is there
}

/** The importer a folder fits, or undefined when it is a Runyard project already or
 * neither kind (the same order as the server's `core.importers.detect`). */
export function importKind(shape: FolderShape): ImportKind | undefined {
  if (shape.runyard) return undefined;
  if (shape.amlConfig) return "aml-workbench";
  if (shape.mlproject) return "mlflow-project";
  return undefined;
}

const WHAT: Record<ImportKind, string> = {
  "aml-workbench": "an Azure ML Workbench project (aml_config/)",
  "mlflow-project": "an MLflow project (MLproject)",
};

export function offerText(folderName: string, kind: ImportKind): string {
  return `${folderName} is ${WHAT[kind]}. Import its targets and jobs into Runyard? The files are written for you to review and commit.`;
}

function noteLine(n: ImportNote): string {
  return `${n.source}${n.key ? ` (${n.key})` : ""}: ${n.message}`;
}

/** The log's lines and the notification's one line for an import's result. */
export function summary(result: ProjectImportResult): { message: string; lines: string[]; ok: boolean } {
  const lines = [
    ...result.written.map((w) => `wrote ${w}`),
    ...result.notes.map((n) => `note: ${noteLine(n)}`),
    ...result.problems.map((n) => `not done: ${noteLine(n)}`),
  ];
  const files = `${result.written.length} file${result.written.length === 1 ? "" : "s"}`;
  let message = `Runyard wrote ${files} from ${result.kind === "aml-workbench" ? "aml_config/" : "MLproject"}`;
  const first = result.problems[0];
  if (first) {
    message += `; ${result.problems.length} thing${result.problems.length === 1 ? "" : "s"} could not be imported: ${noteLine(first)}`;
  } else if (result.notes.length) {
    message += ` (${result.notes.length} note${result.notes.length === 1 ? "" : "s"} in the Runyard log)`;
  }
  return { message: `${message}.`, lines, ok: result.problems.length === 0 };
}
