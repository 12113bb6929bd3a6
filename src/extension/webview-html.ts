/** The HTML shell of every QuantLens webview: strict CSP, script nonce, resources by `asWebviewUri`. No vscode import. */
import { randomBytes } from 'node:crypto';
import type { WebviewBoot } from '../shared/webview-messages';

/** Inputs of the page shell. */
export interface WebviewHtmlParts {
  /** `webview.cspSource`. */
  cspSource: string;
  /** `asWebviewUri` of dist/webview.js. */
  scriptUri: string;
  /** `asWebviewUri` of the style sheets (media/webview.css, uPlot's css). */
  styleUris: string[];
  boot: WebviewBoot;
  title: string;
  /** Fixed nonce for tests; random otherwise. */
  nonce?: string;
}

/** A fresh random nonce for one page. */
export function makeNonce(): string {
  return randomBytes(18).toString('base64').replace(/[+/=]/g, '');
}

/** The Content-Security-Policy: nothing by default, our scripts by nonce, styles and images/fonts from the extension only. */
export function contentSecurityPolicy(cspSource: string, nonce: string): string {
  return [
    "default-src 'none'",
    `script-src 'nonce-${nonce}'`,
    `style-src ${cspSource} 'nonce-${nonce}'`,
    `img-src ${cspSource} data:`,
    `font-src ${cspSource}`,
  ].join('; ');
}

/** Escapes text for HTML content and attribute values. */
export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

/** The complete page. */
export function webviewHtml(p: WebviewHtmlParts): string {
  const nonce = p.nonce ?? makeNonce();
  const styles = p.styleUris.map((u) => `<link rel="stylesheet" href="${escapeHtml(u)}">`).join('\n    ');
  return `<!DOCTYPE html>
<html lang="en">
  <head>
    <meta charset="UTF-8">
    <meta http-equiv="Content-Security-Policy" content="${escapeHtml(contentSecurityPolicy(p.cspSource, nonce))}">
    <meta name="viewport" content="width=device-width, initial-scale=1.0">
    ${styles}
    <title>${escapeHtml(p.title)}</title>
  </head>
  <body data-view="${escapeHtml(p.boot.kind)}" data-boot="${escapeHtml(JSON.stringify(p.boot))}">
    <main id="app" aria-live="polite"></main>
    <script nonce="${nonce}" src="${escapeHtml(p.scriptUri)}"></script>
  </body>
</html>`;
}
