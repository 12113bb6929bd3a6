/** Per-model caches of the engine (decoded model, inventory, sessions, activations) bounded by a memory budget. */
import * as fs from 'fs';
import * as path from 'path';
import { Graph } from '../core/onnx/graph';
import { loadModelFile, modelFileSize } from '../core/onnx/model-file';
import type { QuantLayer } from '../core/onnx/layer';
import type { LoadedModel } from './context';

/** Something cached beside a model (a session, captured activations...), with its estimated size. */
export interface CacheItem {
  value: unknown;
  bytes: number;
  /** Frees native memory (e.g. releases an ORT session). */
  dispose?: () => void | Promise<void>;
}

interface Entry {
  loaded: Promise<LoadedModel>;
  /** Set once loading finished. */
  value?: LoadedModel;
  /** The file's mtime when it was loaded: a changed file is reloaded. */
  mtimeMs: number;
  modelBytes: number;
  items: Map<string, CacheItem>;
  lastUsed: number;
  /** Running jobs using this model: pinned entries are never evicted. */
  pins: number;
}

/** Builds the layer inventory of a graph (injected so the cache does not depend on the inventory module). */
export type InventoryBuilder = (graph: Graph) => QuantLayer[] | Promise<QuantLayer[]>;

/** Resolves a model path the way every engine request does (absolute, normalised). */
export function resolveModelPath(p: string): string {
  return path.resolve(p);
}

/** Caches loaded models and their derived data, evicting least-recently-used unpinned models over the budget. */
export class ModelCache {
  private readonly entries = new Map<string, Entry>();
  private clock = 0;

  constructor(
    private budgetBytes: number,
    private readonly buildInventory: InventoryBuilder,
    private readonly log: (msg: string) => void = () => {},
  ) {}

  /** The memory budget in bytes. */
  get budget(): number {
    return this.budgetBytes;
  }

  /** Changes the memory budget and evicts what no longer fits. */
  setBudget(bytes: number): void {
    this.budgetBytes = bytes;
    void this.evict();
  }

  /** Loads (or reuses) a model and pins it until `release` is called (a job's model is never evicted under it). */
  async acquire(file: string): Promise<{ model: LoadedModel; release: () => void }> {
    const { entry, model } = await this.load(file, true);
    return { model, release: this.unpinner(entry) };
  }

  /** Loads (or returns the cached) model; a file changed on disk since it was loaded is loaded again. */
  async get(file: string): Promise<LoadedModel> {
    return (await this.load(file, false)).model;
  }

  /** The entry of a model, loading it when needed; with `pin` the entry is pinned before any await. */
  private async load(file: string, pin: boolean): Promise<{ entry: Entry; model: LoadedModel }> {
    const key = resolveModelPath(file);
    let mtimeMs = -1;
    try { mtimeMs = fs.statSync(key).mtimeMs; } catch { /* loadModelFile reports the error */ }
    const hit = this.entries.get(key);
    if (hit && hit.mtimeMs === mtimeMs) {
      hit.lastUsed = ++this.clock;
      if (pin) hit.pins++;
      try {
        return { entry: hit, model: await hit.loaded };
      } catch (e) {
        if (pin) hit.pins--;
        throw e;
      }
    }
    if (hit) await this.close(key);
    const loaded = (async (): Promise<LoadedModel> => {
      const model = loadModelFile(key);
      const graph = new Graph(model, key);
      const inventory = await this.buildInventory(graph);
      const fileBytes = modelFileSize(key, model);
      return { path: key, model, graph, inventory, fileBytes };
    })();
    const entry: Entry = { loaded, mtimeMs, modelBytes: 0, items: new Map(), lastUsed: ++this.clock, pins: pin ? 1 : 0 };
    this.entries.set(key, entry);
    let model: LoadedModel;
    try {
      model = await loaded;
      entry.value = model;
      entry.modelBytes = model.fileBytes * 1.5; // decoded model + graph indexes over the file buffer
    } catch (e) {
      if (this.entries.get(key) === entry) this.entries.delete(key);
      throw e;
    }
    await this.evict(key); // the model just asked for stays, even when it alone exceeds the budget
    return { entry, model };
  }

  /** The loaded model when it is cached and finished loading. */
  peek(file: string): LoadedModel | undefined {
    return this.entries.get(resolveModelPath(file))?.value;
  }

  /** An item cached beside the model, or undefined. */
  getItem<T>(file: string, key: string): T | undefined {
    const e = this.entries.get(resolveModelPath(file));
    const it = e?.items.get(key);
    if (e && it) e.lastUsed = ++this.clock;
    return it?.value as T | undefined;
  }

  /**
   * Caches an item beside a loaded model (replacing and disposing an older one under the same key); false when
   * the model is not cached (then the caller still owns the item and must dispose it).
   */
  async setItem(file: string, key: string, item: CacheItem): Promise<boolean> {
    const e = this.entries.get(resolveModelPath(file));
    if (!e) return false;
    const old = e.items.get(key);
    e.items.set(key, item);
    if (old && old !== item) await old.dispose?.();
    await this.evict();
    return true;
  }

  /** Removes (and disposes) an item cached beside a model. */
  async removeItem(file: string, key: string): Promise<void> {
    const e = this.entries.get(resolveModelPath(file));
    const it = e?.items.get(key);
    if (!e || !it) return;
    e.items.delete(key);
    await it.dispose?.();
  }

  /**
   * Reserves memory a job will use outside the cache (e.g. an analysis's activations) beside a model the job has
   * pinned: other caches are evicted to make room; returns the function that gives it back.
   */
  async reserve(file: string, key: string, bytes: number): Promise<() => void> {
    const ok = await this.setItem(file, key, { value: null, bytes });
    return () => { if (ok) void this.removeItem(file, key); };
  }

  /** Marks a model in use (not evicted until the returned function is called). */
  pin(file: string): () => void {
    const e = this.entries.get(resolveModelPath(file));
    if (!e) return () => {};
    e.pins++;
    return this.unpinner(e);
  }

  private unpinner(e: Entry): () => void {
    let done = false;
    return () => { if (!done) { done = true; e.pins--; void this.evict(); } };
  }

  /** Estimated bytes held by all caches. */
  usedBytes(): number {
    let n = 0;
    for (const e of this.entries.values()) n += this.entryBytes(e);
    return n;
  }

  /** Paths of the models currently cached. */
  models(): string[] {
    return [...this.entries.keys()];
  }

  /** Releases everything held for a model. */
  async close(file: string): Promise<void> {
    const key = resolveModelPath(file);
    const e = this.entries.get(key);
    if (!e) return;
    this.entries.delete(key);
    for (const it of e.items.values()) {
      try { await it.dispose?.(); } catch (err) { this.log(`releasing a cache of ${key} failed: ${err}`); }
    }
  }

  /** Releases every model. */
  async closeAll(): Promise<void> {
    for (const k of [...this.entries.keys()]) await this.close(k);
  }

  private entryBytes(e: Entry): number {
    let n = e.modelBytes;
    for (const it of e.items.values()) n += it.bytes;
    return n;
  }

  /** Drops items, then whole models, least recently used first, until the caches fit the budget. */
  private async evict(protect?: string): Promise<void> {
    if (this.usedBytes() <= this.budgetBytes) return;
    const lru = [...this.entries.entries()].filter(([k]) => k !== protect).sort((a, b) => a[1].lastUsed - b[1].lastUsed);
    // First the derived items of idle models, then the idle models themselves.
    for (const [key, e] of lru) {
      if (this.usedBytes() <= this.budgetBytes) return;
      if (e.pins > 0) continue;
      for (const [k, it] of [...e.items]) {
        e.items.delete(k);
        try { await it.dispose?.(); } catch { /* ignore */ }
        this.log(`memory budget: dropped ${k} of ${key}`);
        if (this.usedBytes() <= this.budgetBytes) return;
      }
    }
    for (const [key, e] of lru) {
      if (this.usedBytes() <= this.budgetBytes) return;
      if (e.pins > 0) continue;
      this.log(`memory budget: released model ${key}`);
      await this.close(key);
    }
  }
}
