// The extension's webview panels: run details, run comparison, the gallery and the runs table.
export type { PanelActions } from "./actions";
export { showRunDetails } from "./details";
export { showCompare } from "./compare";
export { showGallery } from "./gallery";
export { showRunsTable } from "./runsTable";
