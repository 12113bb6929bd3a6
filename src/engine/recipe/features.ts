/** Registers the recipe language features (diagnostics, completion, hover, quick fixes, code lenses) on the engine's connection. */
import { existsSync } from 'fs';
import { fileURLToPath } from 'url';
import { CodeActionKind, Connection, ServerCapabilities, TextDocuments } from 'vscode-languageserver';
import type { TextDocument } from 'vscode-languageserver-textdocument';
import type { EngineContext } from '../context';
import { APPLY_RECOMMENDATION_KIND, recipeCodeActions, recipeCodeLenses, recipeDocumentLinks } from './actions';
import { recipeCompletions } from './completion';
import { issueToDiagnostic } from './diagnostics';
import { recipeHover } from './hover';
import { modelIndex, RecipeModelIndex, reportIndex, ReportIndex } from './indexes';
import { parseRecipeText, RecipeDoc } from './parse';
import { checkRecipe, resolveRecipePath } from './validate';

/** The part of the engine context the recipe features use. */
export type RecipeContext = Pick<EngineContext, 'getModel' | 'peekModel' | 'getLastReport' | 'onDidChangeReport' | 'log'>;

/** Whether a document is a recipe (`*.qrecipe.json`). */
export function isRecipeUri(uri: string): boolean {
  return /\.qrecipe\.json$/i.test(uri);
}

/** The file path of a `file:` URI, or undefined (unsaved documents). */
export function uriToPath(uri: string): string | undefined {
  if (!uri.startsWith('file:')) return undefined;
  try { return fileURLToPath(uri); } catch { return undefined; }
}

/** Capabilities the recipe features need; merge them into the InitializeResult. */
export const RECIPE_CAPABILITIES: ServerCapabilities = {
  completionProvider: { triggerCharacters: ['"', ':', '/'] },
  hoverProvider: true,
  codeActionProvider: { codeActionKinds: [CodeActionKind.QuickFix, CodeActionKind.RefactorRewrite, APPLY_RECOMMENDATION_KIND] },
  codeLensProvider: { resolveProvider: false },
  documentLinkProvider: { resolveProvider: false },
};

/** Everything the pure functions need about one recipe document. */
export interface RecipeState {
  doc: RecipeDoc;
  recipePath?: string;
  modelPath?: string;
  model?: RecipeModelIndex;
  modelError?: string;
  report?: ReportIndex;
}

const parsed = new WeakMap<TextDocument, { version: number; doc: RecipeDoc }>();

/** The parsed recipe of a document, reused until the document's version changes. */
export function parseDocument(document: TextDocument): RecipeDoc {
  const hit = parsed.get(document);
  if (hit && hit.version === document.version) return hit.doc;
  const doc = parseRecipeText(document.getText());
  parsed.set(document, { version: document.version, doc });
  return doc;
}

/** Parses a recipe and looks up its model and report; `wait` false uses only an already loaded model. */
export async function recipeState(ctx: RecipeContext, document: TextDocument, wait = true): Promise<RecipeState> {
  const doc = parseDocument(document);
  const recipePath = uriToPath(document.uri);
  const rel = doc.field.get('model')?.valueNode;
  const state: RecipeState = { doc, recipePath };
  if (!recipePath || rel?.type !== 'string' || !rel.value) return state;
  const modelPath = resolveRecipePath(recipePath, rel.value);
  state.modelPath = modelPath;
  if (!existsSync(modelPath)) return state;
  try {
    const loaded = wait ? await ctx.getModel(modelPath) : ctx.peekModel(modelPath);
    if (loaded) state.model = modelIndex(loaded);
  } catch (e) {
    state.modelError = e instanceof Error ? e.message : String(e);
  }
  const report = ctx.getLastReport(modelPath);
  if (report) state.report = reportIndex(report);
  return state;
}

/** Wires the recipe features to the connection (call before `documents.listen`); returns the capabilities to announce. */
export function registerRecipeFeatures(connection: Connection, documents: TextDocuments<TextDocument>, ctx: RecipeContext): ServerCapabilities {
  const pending = new Map<string, ReturnType<typeof setTimeout>>();

  const publish = (document: TextDocument, state: RecipeState) => {
    const issues = checkRecipe({ doc: state.doc, recipePath: state.recipePath, model: state.model, modelError: state.modelError, report: state.report });
    void connection.sendDiagnostics({ uri: document.uri, version: document.version, diagnostics: issues.map((i) => issueToDiagnostic(document, i)) });
  };

  const validate = async (uri: string) => {
    const document = documents.get(uri);
    if (!document) return;
    const t0 = performance.now();
    // First with the model as cached (instant), then again if loading it (or reloading a changed file) gives another one.
    const quick = await recipeState(ctx, document, false);
    publish(document, quick);
    const ms = performance.now() - t0;
    if (ms > 250) ctx.log(`recipe diagnostics of ${uri} took ${ms.toFixed(0)} ms`);
    if (!quick.modelPath || !existsSync(quick.modelPath)) return;
    const full = await recipeState(ctx, document, true);
    const now = documents.get(uri);
    if (now && now.version === document.version && (full.model !== quick.model || full.modelError !== quick.modelError)) publish(now, full);
  };

  const schedule = (uri: string, delayMs = 40) => {
    if (!isRecipeUri(uri)) return;
    clearTimeout(pending.get(uri));
    pending.set(uri, setTimeout(() => {
      pending.delete(uri);
      validate(uri).catch((e) => ctx.log(`recipe diagnostics of ${uri} failed: ${e instanceof Error ? e.stack : e}`));
    }, delayMs));
  };

  documents.onDidChangeContent((e) => schedule(e.document.uri));
  documents.onDidClose((e) => {
    clearTimeout(pending.get(e.document.uri));
    pending.delete(e.document.uri);
    if (isRecipeUri(e.document.uri)) void connection.sendDiagnostics({ uri: e.document.uri, diagnostics: [] });
  });
  ctx.onDidChangeReport((modelPath) => {
    for (const d of documents.all()) {
      if (!isRecipeUri(d.uri)) continue;
      const rel = parseDocument(d).field.get('model')?.valueNode;
      const p = uriToPath(d.uri);
      if (p && rel?.type === 'string' && resolveRecipePath(p, rel.value) === modelPath) schedule(d.uri, 0);
    }
  });

  const withState = async <T>(uri: string, empty: T, f: (document: TextDocument, s: RecipeState) => T): Promise<T> => {
    const document = documents.get(uri);
    if (!document || !isRecipeUri(uri)) return empty;
    try {
      return f(document, await recipeState(ctx, document, true));
    } catch (e) {
      ctx.log(`recipe feature on ${uri} failed: ${e instanceof Error ? e.stack : e}`);
      return empty;
    }
  };

  connection.onCompletion((p) => withState(p.textDocument.uri, [], (d, s) => recipeCompletions(d, d.offsetAt(p.position), s)));
  connection.onHover((p) => withState(p.textDocument.uri, null, (d, s) => recipeHover(d, d.offsetAt(p.position), s)));
  connection.onCodeAction((p) => withState(p.textDocument.uri, [], (d, s) => recipeCodeActions(d, p.range, p.context.diagnostics, s)));
  connection.onCodeLens((p) => withState(p.textDocument.uri, [], (d, s) => recipeCodeLenses(d, s)));
  connection.onDocumentLinks(async (p) => {
    const d = documents.get(p.textDocument.uri);
    return d && isRecipeUri(d.uri) ? recipeDocumentLinks(d, { doc: parseDocument(d), recipePath: uriToPath(d.uri) }) : [];
  });
  return RECIPE_CAPABILITIES;
}
