/** Tiny DOM helpers for the webviews (no inline styles or HTML strings: the CSP forbids them) and the typed VS Code API. */
import type { FromWebviewMessage, ToWebviewMessage, WebviewBoot, WebviewPersistedState } from '../src/shared/webview-messages';

type Child = Node | string | number | null | undefined | false;
type Attrs = Record<string, string | number | boolean | undefined | null | ((e: Event) => void)>;

/** Creates an HTML element: `h('div', {class: 'x', onclick: fn}, child...)`. */
export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs?: Attrs, ...children: Child[]): HTMLElementTagNameMap[K];
export function h(tag: string, attrs?: Attrs, ...children: Child[]): HTMLElement;
export function h(tag: string, attrs: Attrs = {}, ...children: Child[]): HTMLElement {
  return fill(document.createElement(tag), attrs, children);
}

const SVG_NS = 'http://www.w3.org/2000/svg';
/** Creates an SVG element. */
export function s(tag: string, attrs: Attrs = {}, ...children: Child[]): SVGElement {
  return fill(document.createElementNS(SVG_NS, tag), attrs, children);
}

function fill<E extends Element>(el: E, attrs: Attrs, children: Child[]): E {
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (typeof v === 'function') el.addEventListener(k.slice(2), v as EventListener);
    else if (k === 'class') el.setAttribute('class', String(v));
    else if (v === true) el.setAttribute(k, '');
    else el.setAttribute(k, String(v));
  }
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    el.append(typeof c === 'object' ? c : document.createTextNode(String(c)));
  }
  return el;
}

/** Replaces an element's children. */
export function replace(el: Element, ...children: Child[]): void {
  el.replaceChildren(...children.filter((c): c is Node | string | number => c !== null && c !== undefined && c !== false).map((c) => (typeof c === 'object' ? c : String(c))));
}

interface VsCodeApi {
  postMessage(message: FromWebviewMessage): void;
  getState(): WebviewPersistedState | undefined;
  setState(state: WebviewPersistedState): void;
}
declare function acquireVsCodeApi(): VsCodeApi;

let api: VsCodeApi | undefined;
/** The VS Code API (acquired once). */
export function vscode(): VsCodeApi {
  api ??= acquireVsCodeApi();
  return api;
}

/** Sends a typed message to the extension. */
export function send(m: FromWebviewMessage): void {
  vscode().postMessage(m);
}

/** Listens to typed messages from the extension. */
export function onMessage(fn: (m: ToWebviewMessage) => void): void {
  window.addEventListener('message', (e: MessageEvent<ToWebviewMessage>) => {
    if (e.data && typeof e.data === 'object' && typeof e.data.type === 'string') fn(e.data);
  });
}

/** The boot data written into the page. */
export function boot(): WebviewBoot {
  return JSON.parse(document.body.dataset.boot ?? '{}') as WebviewBoot;
}

/** A `vscode-button` (from @vscode-elements) with a click handler. */
export function button(label: string, onClick: () => void, opts: { secondary?: boolean; id?: string; title?: string; disabled?: boolean; ariaLabel?: string } = {}): HTMLElement {
  return h('vscode-button', { id: opts.id, title: opts.title, 'aria-label': opts.ariaLabel, secondary: opts.secondary, disabled: opts.disabled, onclick: () => onClick() }, label);
}
