/** Shared set-up of QuantLens webviews: options, the page shell, typed posting. */
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { ToWebviewMessage, WebviewBoot } from '../shared/webview-messages';
import { webviewHtml } from './webview-html';

/** Webview options: scripts on, resources only from dist/ and media/. */
export function webviewOptions(extensionUri: vscode.Uri): vscode.WebviewOptions {
  return { enableScripts: true, localResourceRoots: [vscode.Uri.joinPath(extensionUri, 'dist'), vscode.Uri.joinPath(extensionUri, 'media')] };
}

/** Fills a webview with the QuantLens page for `boot`. */
export function setWebviewHtml(webview: vscode.Webview, extensionUri: vscode.Uri, boot: WebviewBoot, title: string): void {
  webview.options = webviewOptions(extensionUri);
  webview.html = webviewHtml({
    cspSource: webview.cspSource,
    scriptUri: webview.asWebviewUri(vscode.Uri.joinPath(extensionUri, 'dist', 'webview.js')).toString(),
    styleUris: [webview.asWebviewUri(vscode.Uri.joinPath(extensionUri, 'media', 'webview.css')).toString()],
    boot,
    title,
  });
}

/** Posts a typed message (ignored once the webview is gone). */
export function post(webview: vscode.Webview, message: ToWebviewMessage): void {
  void Promise.resolve(webview.postMessage(message)).catch(() => undefined);
}

/** The boot data for a model's view. */
export function bootFor(kind: WebviewBoot['kind'], model: string): WebviewBoot {
  return { kind, model, modelName: path.basename(model) };
}
