/** Shared set-up of QuantLens webviews: options, the page shell, typed posting. */
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { ToWebviewMessage, WebviewBoot, WebviewPersistedState } from '../shared/webview-messages';
import { webviewHtml } from './webview-html';

/** Webview options: scripts on, resources only from dist/ and media/. */
export function webviewOptions(extensionUri: vscode.Uri): vscode.WebviewOptions {
  return { enableScripts: true, localResourceRoots: [vscode.Uri.joinPath(extensionUri, 'dist'), vscode.Uri.joinPath(extensionUri, 'media')] };
}

/** Fills a webview with the QuantLens page for `boot`. */
export function setWebviewHtml(webview: vscode.Webview, extensionUri: vscode.Uri, boot: WebviewBoot, title: string): void {
  webview.options = webviewOptions(extensionUri);
  const render = () => webviewHtml({
    cspSource: webview.cspSource,
    scriptUri: webview.asWebviewUri(vscode.Uri.joinPath(extensionUri, 'dist', 'webview.js')).toString(),
    styleUris: [webview.asWebviewUri(vscode.Uri.joinPath(extensionUri, 'media', 'webview.css')).toString()],
    boot,
    title,
  });
  webview.html = render();
}

/** Posts a typed message (ignored once the webview is gone). */
export function post(webview: vscode.Webview, message: ToWebviewMessage): void {
  void Promise.resolve(webview.postMessage(message)).catch(() => undefined);
}

/** The boot data for a model's view (with UI state carried over from a restored panel). */
export function bootFor(kind: WebviewBoot['kind'], model: string, ui?: Record<string, unknown>): WebviewBoot {
  return { kind, model, modelName: path.basename(model), ...(ui ? { ui } : {}) };
}

/**
 * Restores a panel after a reload by re-creating it in the same column from its saved state.
 * (Reusing the revived webview left some pages blank in VS Code for the web: their resources failed to load.)
 */
export function registerPanelRestore(viewType: string, create: (model: string, column: vscode.ViewColumn | undefined, ui?: Record<string, unknown>) => void): vscode.Disposable {
  return vscode.window.registerWebviewPanelSerializer(viewType, {
    async deserializeWebviewPanel(panel: vscode.WebviewPanel, state: unknown) {
      const s = state as WebviewPersistedState | undefined;
      const column = panel.viewColumn;
      panel.dispose();
      if (s?.model) create(s.model, column, s.ui);
    },
  });
}
