/** The QuantLens activity-bar views: open models with their layers (sensitivity badge and colour), and running jobs. */
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { JobInfo, LayerRow } from '../shared/protocol';
import type { LayerReport } from '../shared/report';
import type { EngineClient } from './engine-client';
import { jobDetail, jobLabel } from './job-status';
import type { ModelStore } from './model-store';
import { layerBadge } from './layer-badge';

/** A node of the models tree. */
export type ModelNode = { kind: 'model'; model: string } | { kind: 'layer'; model: string; name: string; row?: LayerRow; report?: LayerReport };

/** Open models and their layers. */
export class ModelsTree implements vscode.TreeDataProvider<ModelNode>, vscode.Disposable {
  private readonly emitter = new vscode.EventEmitter<ModelNode | undefined>();
  readonly onDidChangeTreeData = this.emitter.event;
  private readonly sub: vscode.Disposable;
  private readonly layerNodes = new Map<string, ModelNode>();

  constructor(private readonly store: ModelStore) {
    this.sub = store.onDidChange(() => this.emitter.fire(undefined));
  }

  /** The node of a layer (for `reveal`), when its model's layers are known. */
  layerNode(model: string, layer: string): ModelNode | undefined {
    this.getChildren({ kind: 'model', model });
    return this.layerNodes.get(`${model}\n${layer}`);
  }

  getParent(node: ModelNode): ModelNode | undefined {
    return node.kind === 'layer' ? { kind: 'model', model: node.model } : undefined;
  }

  getTreeItem(node: ModelNode): vscode.TreeItem {
    if (node.kind === 'model') {
      const s = this.store.get(node.model);
      const item = new vscode.TreeItem(path.basename(node.model), vscode.TreeItemCollapsibleState.Collapsed);
      item.id = `model:${node.model}`;
      item.resourceUri = vscode.Uri.file(node.model);
      item.tooltip = node.model;
      item.contextValue = 'quantlens.model';
      const count = s.report?.layers.length ?? s.info?.layers.length;
      item.description = modelState(s.analyzing, s.inspectError, count, !!s.report);
      if (s.inspectError) item.tooltip = `${node.model}\n${s.inspectError}`;
      item.iconPath = new vscode.ThemeIcon(s.inspectError ? 'error' : 'circuit-board');
      item.command = { command: 'vscode.openWith', title: 'Open Model', arguments: [vscode.Uri.file(node.model), 'quantlens.modelView'] };
      return item;
    }
    const item = new vscode.TreeItem(node.name, vscode.TreeItemCollapsibleState.None);
    item.id = `layer:${node.model}\n${node.name}`;
    const s = this.store.get(node.model);
    const badge = layerBadge(node.report, s.report?.primaryFormat);
    item.description = [node.report?.opType ?? node.row?.opType, badge.text].filter(Boolean).join(' · ');
    item.tooltip = badge.tooltip ? `${node.name}\n${badge.tooltip}` : node.name;
    item.iconPath = new vscode.ThemeIcon(badge.icon, badge.color ? new vscode.ThemeColor(badge.color) : undefined);
    item.contextValue = 'quantlens.layer';
    item.command = { command: 'quantlens.showLayer', title: 'Show Layer', arguments: [{ model: node.model, layer: node.name }] };
    return item;
  }

  getChildren(node?: ModelNode): ModelNode[] {
    if (!node) return this.store.all().map((s) => ({ kind: 'model', model: s.model }));
    if (node.kind !== 'model') return [];
    const s = this.store.get(node.model);
    const reports = s.report?.layers ?? s.partial;
    const byName = new Map(reports.map((l) => [l.name, l]));
    const rows = s.info?.layers;
    const names = rows ? rows.map((r) => r.name) : [...reports].sort((a, b) => a.nodeIndex - b.nodeIndex).map((l) => l.name);
    const rowByName = new Map((rows ?? []).map((r) => [r.name, r]));
    return names.map((name) => {
      const n: ModelNode = { kind: 'layer', model: node.model, name, row: rowByName.get(name), report: byName.get(name) };
      this.layerNodes.set(`${node.model}\n${name}`, n);
      return n;
    });
  }

  dispose(): void { this.sub.dispose(); this.emitter.dispose(); }
}

/** Running engine jobs. */
export class JobsTree implements vscode.TreeDataProvider<JobInfo>, vscode.Disposable {
  private readonly emitter = new vscode.EventEmitter<JobInfo | undefined>();
  readonly onDidChangeTreeData = this.emitter.event;
  private readonly sub: vscode.Disposable;

  constructor(private readonly engine: EngineClient) {
    this.sub = engine.onJobs(() => this.emitter.fire(undefined));
  }

  getTreeItem(j: JobInfo): vscode.TreeItem {
    const item = new vscode.TreeItem(jobLabel(j), vscode.TreeItemCollapsibleState.None);
    item.id = `job:${j.id}`;
    item.description = jobDetail(j, Date.now());
    item.tooltip = `${j.model}\nstarted ${j.startedAt}`;
    item.iconPath = new vscode.ThemeIcon('sync~spin');
    item.contextValue = 'quantlens.job';
    return item;
  }

  getChildren(j?: JobInfo): JobInfo[] { return j ? [] : this.engine.jobs; }

  dispose(): void { this.sub.dispose(); this.emitter.dispose(); }
}

/** A model's state in words for the tree: analyzing, cannot be opened, analyzed, opened, or not opened yet. */
export function modelState(analyzing: boolean, error: string | undefined, layers: number | undefined, analyzed: boolean): string {
  if (analyzing) return 'analyzing…';
  if (error) return 'cannot be opened';
  const n = layers !== undefined ? `${layers} layer${layers === 1 ? '' : 's'} · ` : '';
  return analyzed ? `${n}analyzed` : layers !== undefined ? `${n}not analyzed` : 'not analyzed';
}
