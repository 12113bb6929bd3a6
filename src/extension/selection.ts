/** The selected layer of each model, shared by the report panel, the graph, the sidebar and the recipe editor. */
import * as vscode from 'vscode';

/** Where a selection came from (that view does not need to be told). */
export type SelectionSource = 'report' | 'graph' | 'sidebar' | 'command' | 'model';

/** A layer selection. */
export interface LayerSelection { model: string; layer: string; source: SelectionSource }

/** One event stream of layer selections; every view listens and follows. */
export class SelectionHub implements vscode.Disposable {
  private readonly emitter = new vscode.EventEmitter<LayerSelection>();
  private readonly keptEmitter = new vscode.EventEmitter<{ model: string; keep: string[] }>();
  private readonly keptByModel = new Map<string, string[]>();
  /** A layer was selected somewhere. */
  readonly onSelect = this.emitter.event;
  /** The report panel's kept layers changed. */
  readonly onKept = this.keptEmitter.event;

  /** Announces a selection. */
  select(s: LayerSelection): void { this.emitter.fire(s); }

  /** Records and announces the kept layers of a model. */
  setKept(model: string, keep: string[]): void { this.keptByModel.set(model, keep); this.keptEmitter.fire({ model, keep }); }

  /** The last kept layers the report panel sent for a model. */
  kept(model: string): string[] | undefined { return this.keptByModel.get(model); }

  dispose(): void { this.emitter.dispose(); this.keptEmitter.dispose(); }
}

/** Selects a layer's key in the open recipe editors of a model (`"name":`), scrolling it into view. */
export function revealInRecipeEditors(recipeFile: string, layer: string): void {
  for (const ed of vscode.window.visibleTextEditors) {
    if (ed.document.uri.fsPath !== recipeFile) continue;
    const text = ed.document.getText();
    const at = text.indexOf(JSON.stringify(layer));
    if (at < 0) continue;
    const range = new vscode.Range(ed.document.positionAt(at), ed.document.positionAt(at + JSON.stringify(layer).length));
    ed.selection = new vscode.Selection(range.start, range.end);
    ed.revealRange(range, vscode.TextEditorRevealType.InCenterIfOutsideViewport);
  }
}
