// The extension's webview panels: run details, run comparison and the gallery.
export type { PanelActions } from "./actions";
export { showRunDetails } from "./details";
export { showCompare } from "./compare";
export { showGallery } from "./gallery";
