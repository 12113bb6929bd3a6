/** The workspace's `.onnx` files listed in the sidebar before any analysis, kept up to date by a file watcher. */
import * as vscode from 'vscode';
import type { ModelStore } from './model-store';

/** Most models listed (a workspace of model zoos should not flood the tree). */
const MAX_MODELS = 200;

/** Adds every workspace `.onnx` file to the store (with its cached report, when one exists) and follows creations and deletions. */
export function trackWorkspaceModels(store: ModelStore): vscode.Disposable {
  const add = (uri: vscode.Uri) => { if (uri.scheme === 'file') void store.report(uri.fsPath).then(() => store.touch(uri.fsPath)); };
  void vscode.workspace.findFiles('**/*.onnx', '**/node_modules/**', MAX_MODELS).then((files) => {
    files.sort((a, b) => a.fsPath.localeCompare(b.fsPath)).forEach(add);
  });
  const watcher = vscode.workspace.createFileSystemWatcher('**/*.onnx');
  return vscode.Disposable.from(
    watcher,
    watcher.onDidCreate(add),
    watcher.onDidDelete((uri) => store.remove(uri.fsPath)),
  );
}
