// What the panels ask the rest of the extension to do when the user clicks something
// (the commands own these: they know about output channels, dialogs and trust).

export interface PanelActions {
  showLogs(project: string, runId: string): void;
  restore(project: string, runId: string): void;
  cancel(project: string, runId: string): void;
  createProject(entryId: string): void;
  openOutput(outputsDir: string, path: string, reveal: boolean): void;
  registerModel(project: string, runId: string, path: string): void;
}
