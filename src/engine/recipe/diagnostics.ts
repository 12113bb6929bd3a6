/** Recipe issues as LSP diagnostics (pure: text + model/report indexes in, diagnostics out). */
import { Diagnostic, DiagnosticSeverity, DiagnosticTag } from 'vscode-languageserver';
import type { TextDocument } from 'vscode-languageserver-textdocument';
import { parseRecipeText, RecipeDoc } from './parse';
import { checkRecipe, RecipeCheckInput, RecipeIssue } from './validate';

/** The `source` of every recipe diagnostic. */
export const RECIPE_DIAGNOSTIC_SOURCE = 'quantlens';

const SEVERITY: Record<RecipeIssue['severity'], DiagnosticSeverity> = {
  error: DiagnosticSeverity.Error,
  warning: DiagnosticSeverity.Warning,
  info: DiagnosticSeverity.Information,
  hint: DiagnosticSeverity.Hint,
};

/** Converts one issue to a diagnostic (the issue's data rides along for quick fixes). */
export function issueToDiagnostic(document: TextDocument, issue: RecipeIssue): Diagnostic {
  const d: Diagnostic = {
    range: { start: document.positionAt(issue.offset), end: document.positionAt(issue.offset + issue.length) },
    severity: SEVERITY[issue.severity],
    code: issue.code,
    source: RECIPE_DIAGNOSTIC_SOURCE,
    message: issue.message,
  };
  if (issue.unnecessary) d.tags = [DiagnosticTag.Unnecessary];
  if (issue.data) d.data = issue.data;
  return d;
}

/** Diagnostics of a recipe document; `doc` may be passed when already parsed. */
export function recipeDiagnostics(document: TextDocument, input: Omit<RecipeCheckInput, 'doc'> & { doc?: RecipeDoc }): Diagnostic[] {
  const doc = input.doc ?? parseRecipeText(document.getText());
  return checkRecipe({ ...input, doc }).map((i) => issueToDiagnostic(document, i));
}
