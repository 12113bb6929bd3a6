/**
 * The input fuzzer shared by test/integration/fuzz-inputs.test.ts (CI, fixed seed and counts) and scripts/fuzz.ts
 * (`npm run fuzz -- --cases N --seed S`): seeded mutations of models (byte flips, truncation, proto field edits),
 * recipes (types, nesting, sizes, unicode), data files (.npy headers, PNG/JPEG bytes) and engine requests (params,
 * order, concurrency, cancellation at random points). Every case must end in success or a clear user error: never an
 * internal error, a hang (per-case timeout) or a crash; the engine must answer `quant/status` afterwards.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import { CancellationTokenSource, ResponseError } from 'vscode-jsonrpc';
import { runCli } from '../../src/cli/main';
import { encodeNpy } from '../../src/core/data/npy';
import { mulberry32 } from '../../src/core/data/synthetic';
import { saveModelFile } from '../../src/core/onnx/model-file';
import { AttributeType, DataType, decodeModelProto, encodeModelProto, ModelProto } from '../../src/core/onnx/proto';
import { EngineClient, startEngine } from '../../src/engine/client-for-tests';
import { EngineErrorCodes, EngineStatusRequest } from '../../src/shared/protocol';
import { captureIO, randn, tinyConvNet } from '../fixtures/tiny-models';
import { writeMlp } from './engine-helpers';

/** The kinds of cases. */
export type FuzzKind = 'model' | 'recipe' | 'data' | 'request';
/** How a case ended: `ok` (success), `user-error` (a clear error), or a failure (`internal`, `hang`, `crash`). */
export type FuzzOutcome = 'ok' | 'user-error' | 'cancelled' | 'internal' | 'hang' | 'crash';
/** One case's result. */
export interface FuzzResult { kind: FuzzKind; name: string; outcome: FuzzOutcome; detail?: string }
/** Options of a run. */
export interface FuzzOptions { seed: number; cases: Record<FuzzKind, number>; dir: string; timeoutMs?: number; log?: (line: string) => void }

type Rand = { (): number; int(n: number): number; pick<T>(a: readonly T[]): T };
function rng(seed: number): Rand {
  const r = mulberry32(seed) as Rand;
  r.int = (n) => Math.floor(r() * n);
  r.pick = (a) => a[r.int(a.length)];
  return r;
}

/** Resolves with 'hang' when `p` takes longer than `ms`. */
async function within<T>(p: Promise<T>, ms: number): Promise<T | 'hang'> {
  let t: NodeJS.Timeout | undefined;
  const timer = new Promise<'hang'>((resolve) => { t = setTimeout(() => resolve('hang'), ms); });
  try { return await Promise.race([p, timer]); } finally { clearTimeout(t); }
}

/** Runs the CLI in-process: exit 0 ok, 1/2 user error (with a `quantlens:` or `error:` line and no stack), 3 internal. */
async function cli(args: string[], ms: number): Promise<{ outcome: FuzzOutcome; detail?: string }> {
  const io = captureIO();
  const r = await within(runCli(args, io).catch((e: unknown) => { throw e; }), ms).catch((e: unknown) => ({ thrown: e }));
  if (r === 'hang') return { outcome: 'hang', detail: args.join(' ') };
  if (typeof r === 'object') return { outcome: 'crash', detail: String((r as { thrown: unknown }).thrown) };
  const err = io.stderr();
  if (r === 0) return { outcome: 'ok' };
  if (r === 3) return { outcome: 'internal', detail: err.split('\n').find((l) => l.includes('internal error')) ?? err.slice(0, 300) };
  if (!/^(quantlens: |error: )/m.test(err)) return { outcome: 'internal', detail: `exit ${r} without a clear message: ${err.slice(0, 300)}` };
  if (/\n\s+at .*\(.*:\d+:\d+\)/.test(err)) return { outcome: 'internal', detail: `stack trace printed: ${err.slice(0, 300)}` };
  return { outcome: 'user-error', detail: err.split('\n').find((l) => /^(quantlens: |error: )/.test(l)) };
}

// ---------- models ----------

const OPS = ['Conv', 'Relu', 'Gemm', 'MatMul', 'Add', 'Flatten', 'GlobalAveragePool', 'Reshape', 'If', 'Loop', 'NoSuchOp', 'Softmax', ''];
const WEIRD_INTS = [0, -1, 1, 2, 3, 7, 2 ** 31 - 1, -(2 ** 31), Number.MAX_SAFE_INTEGER];

/** A mutated copy of the tiny CNN: byte flips, truncation, or proto field edits. */
function mutateModel(r: Rand, base: Uint8Array): { name: string; bytes: Uint8Array } {
  const how = r.int(3);
  if (how === 0) {
    const out = Uint8Array.from(base);
    const n = 1 + r.int(10);
    for (let i = 0; i < n; i++) out[r.int(out.length)] ^= 1 << r.int(8);
    return { name: `byte flips x${n}`, bytes: out };
  }
  if (how === 1) { const at = r.int(base.length); return { name: `truncated at ${at}/${base.length}`, bytes: base.subarray(0, at) }; }
  const m: ModelProto = decodeModelProto(base);
  const g = m.graph!;
  const edits: string[] = [];
  for (let e = 0; e < 1 + r.int(3); e++) {
    const node = r.pick(g.node!);
    const init = r.pick(g.initializer!);
    switch (r.int(10)) {
      case 0: node.op_type = r.pick(OPS); edits.push(`op ${node.name}=${node.op_type}`); break;
      case 1: node.input = node.input!.slice(0, r.int(node.input!.length + 1)); if (r() < 0.5) node.input.push(r.pick(['nope', '', 'x', 'y'])); edits.push(`inputs of ${node.name}`); break;
      case 2: init.dims = Array.from({ length: r.int(5) }, () => r.pick(WEIRD_INTS)); edits.push(`dims of ${init.name}=${init.dims.join('x')}`); break;
      case 3: init.data_type = r.pick([0, 2, 3, 6, 7, 9, 10, 11, 16, 17, 21, 22, 99]); edits.push(`type of ${init.name}=${init.data_type}`); break;
      case 4: if (init.raw_data) init.raw_data = init.raw_data.subarray(0, r.int(init.raw_data.length)); edits.push(`raw data of ${init.name} cut`); break;
      case 5: { const a = node.attribute?.length ? r.pick(node.attribute) : undefined; if (a) { a.ints = Array.from({ length: r.int(5) }, () => r.pick(WEIRD_INTS)); a.i = r.pick(WEIRD_INTS); edits.push(`attr ${node.name}.${a.name}`); } break; }
      case 6: m.opset_import = [{ domain: '', version: r.pick([1, 6, 7, 9, 11, 13, 17, 21, 23, 99]) }]; edits.push(`opset ${m.opset_import[0].version}`); break;
      case 7: node.output = [r.pick(g.node!).output![0]]; edits.push(`duplicate output in ${node.name}`); break;
      case 8: { const dims = g.input![0].type!.tensor_type!.shape!.dim!; const d = r.pick(dims); d.dim_value = r.pick(WEIRD_INTS); delete d.dim_param; edits.push(`input dim=${d.dim_value}`); break; }
      default: node.attribute = [...(node.attribute ?? []), { name: 'then_branch', type: AttributeType.GRAPH, g: { name: 'sub', node: [{ op_type: 'Relu', input: ['x'], output: ['z'] }], output: [{ name: 'z' }] } }]; edits.push(`graph attribute on ${node.name}`);
    }
  }
  return { name: `edits: ${edits.join(', ')}`, bytes: encodeModelProto(m) };
}

async function modelCase(r: Rand, k: number, dir: string, base: Uint8Array, ms: number): Promise<FuzzResult> {
  const m = mutateModel(r, base);
  const f = path.join(dir, `model${k}.onnx`);
  fs.writeFileSync(f, m.bytes);
  let res = await cli(['inspect', f], ms);
  if (res.outcome === 'ok') res = await cli(['quantize', f, '--synthetic', '--samples', '2', '--check-samples', '1', '-o', path.join(dir, `model${k}.q.onnx`)], ms);
  return { kind: 'model', name: m.name, ...res };
}

// ---------- recipes ----------

const STRINGS = ['int8', 'uint8', 'int4/per-channel', 'int8/per-channel:3', 'int8/block:32', 'float', 'float16', 'uint2', 'int4', 'percentile:99.9', 'mse', 'entropy',
  '', ' ', 'ｉｎｔ８', 'int8\u0000', '🙂', 'int17', 'per-channel', 'x'.repeat(10000), 'conv1', 'fc', '__proto__', 'constructor'];

/** A random JSON value of at most `depth` levels (numbers, strings incl. unicode, null, arrays, objects). */
function randomValue(r: Rand, depth: number): unknown {
  const t = r.int(depth > 0 ? 8 : 5);
  if (t === 0) return r.pick([0, -1, 1, 3, 1e9, 1e308, -0, 0.5, 2 ** 53]);
  if (t === 1) return r.pick(STRINGS);
  if (t === 2) return null;
  if (t === 3) return r() < 0.5;
  if (t === 4) return r.pick(STRINGS);
  if (t === 5) return Array.from({ length: r.int(4) }, () => randomValue(r, depth - 1));
  return Object.fromEntries(Array.from({ length: r.int(4) }, () => [r.pick(['weights', 'activations', 'calibration', 'scales', 'conv1', 'fc', 'x', '🙂', '']), randomValue(r, depth - 1)]));
}

/** A recipe: mostly valid in shape with one field broken (type, nesting, size, unicode), or raw text. */
function mutateRecipe(r: Rand): { name: string; text: string } {
  const base: Record<string, unknown> = { version: 1, model: 'tiny.onnx', defaults: { weights: r.pick(STRINGS.slice(0, 9)), activations: r.pick(['uint8', 'int8', 'float', 'uint16']) }, layers: {} };
  const how = r.int(7);
  if (how === 0) { const field = r.pick(['version', 'model', 'defaults', 'layers', 'samples', 'data', 'notes', 'extra']); base[field] = randomValue(r, 3); return { name: `${field}=random`, text: JSON.stringify(base) }; }
  if (how === 1) { const l = r.pick(['conv1', 'conv2', 'fc', 'nope']); (base.layers as Record<string, unknown>)[l] = randomValue(r, 3); return { name: `layers.${l}=random`, text: JSON.stringify(base) }; }
  if (how === 2) { const f = r.pick(['weights', 'activations', 'calibration', 'scales']); (base.defaults as Record<string, unknown>)[f] = randomValue(r, 2); return { name: `defaults.${f}=random`, text: JSON.stringify(base) }; }
  if (how === 3) { const d = r.pick([10, 40, 200, 5000]); return { name: `nesting ${d}`, text: `{"version":1,"model":"tiny.onnx","notes":${'['.repeat(d)}${']'.repeat(d)}}` }; }
  if (how === 4) { const n = r.pick([100, 5000]); base.layers = Object.fromEntries(Array.from({ length: n }, (_, i) => [`layer${i}`, 'float'])); return { name: `${n} layers`, text: JSON.stringify(base) }; }
  if (how === 5) { const t = JSON.stringify(base); const at = r.int(t.length); return { name: `text cut at ${at}`, text: t.slice(0, at) }; }
  return { name: 'random top-level value', text: JSON.stringify(randomValue(r, 3)) ?? 'null' };
}

async function recipeCase(r: Rand, k: number, dir: string, model: string, ms: number): Promise<FuzzResult> {
  const m = mutateRecipe(r);
  const f = path.join(dir, `r${k}.qrecipe.json`);
  fs.writeFileSync(f, m.text);
  const res = await cli(['quantize', model, '--synthetic', '--samples', '2', '--check-samples', '1', '--recipe', f, '-o', path.join(dir, `r${k}.q.onnx`)], ms);
  return { kind: 'recipe', name: m.name, ...res };
}

// ---------- data files ----------

function npyCase(r: Rand): { name: string; file: string; bytes: Uint8Array } {
  const good = encodeNpy({ type: DataType.FLOAT, dims: [2, 3, 8, 8], data: randn(384, r.int(1000)) });
  const text = Buffer.from(good).toString('latin1');
  const end = text.indexOf('\n') + 1;
  const header = text.slice(10, end);
  const body = good.subarray(end);
  const edits = [
    () => header.replace("'<f4'", r.pick(["'<f8'", "'>f4'", "'<i8'", "'|b1'", "'<c8'", "'O'", "'<U3'", "'zz'"])),
    () => header.replace('(2, 3, 8, 8)', r.pick(['(2, 3, 8)', '(0, 3, 8, 8)', '(-1, 3, 8, 8)', '(99999999999, 3, 8, 8)', '()', '(2,3,8,8,1)', '(a, b)'])),
    () => header.replace('False', r.pick(['True', 'maybe', ''])),
    () => header.replace('}', r.pick(['', '}}', ', "x": 1}'])),
    () => '{' + header.slice(r.int(header.length)),
  ];
  const how = r.int(edits.length + 2);
  if (how === edits.length) { const at = r.int(good.length); return { name: `npy cut at ${at}`, file: 'a.npy', bytes: good.subarray(0, at) }; }
  if (how === edits.length + 1) { const out = Uint8Array.from(good); for (let i = 0; i < 4; i++) out[r.int(Math.min(out.length, 128))] ^= 1 << r.int(8); return { name: 'npy header byte flips', file: 'a.npy', bytes: out }; }
  const h = edits[how]();
  const lenBytes = Buffer.alloc(2); lenBytes.writeUInt16LE(Math.min(65535, h.length + (r() < 0.8 ? 0 : r.int(50) - 25)));
  return { name: `npy header edit ${how}`, file: 'a.npy', bytes: Buffer.concat([Buffer.from(text.slice(0, 8), 'latin1'), lenBytes, Buffer.from(h, 'latin1'), body]) };
}

function imageCase(r: Rand): { name: string; file: string; bytes: Uint8Array } {
  const w = 1 + r.int(12), h = 1 + r.int(12);
  const rgba = Buffer.alloc(w * h * 4);
  for (let i = 0; i < rgba.length; i++) rgba[i] = r.int(256);
  const isPng = r() < 0.5;
  const good = isPng ? PNG.sync.write(Object.assign(new PNG({ width: w, height: h }), { data: rgba })) : Buffer.from(jpeg.encode({ data: rgba, width: w, height: h }, 80).data);
  const out = Uint8Array.from(good);
  const how = r.int(3);
  if (how === 0) return { name: `${isPng ? 'png' : 'jpeg'} ${w}x${h} intact`, file: isPng ? 'a.png' : 'a.jpg', bytes: out };
  if (how === 1) { const at = r.int(out.length); return { name: `${isPng ? 'png' : 'jpeg'} cut at ${at}`, file: isPng ? 'a.png' : 'a.jpg', bytes: out.subarray(0, at) }; }
  const n = 1 + r.int(8);
  for (let i = 0; i < n; i++) out[r.int(out.length)] ^= 1 << r.int(8);
  return { name: `${isPng ? 'png' : 'jpeg'} byte flips x${n}`, file: isPng ? 'a.png' : 'a.jpg', bytes: out };
}

async function dataCase(r: Rand, k: number, dir: string, model: string, ms: number): Promise<FuzzResult> {
  const c = r() < 0.6 ? npyCase(r) : imageCase(r);
  const d = path.join(dir, `data${k}`);
  fs.mkdirSync(d, { recursive: true });
  fs.writeFileSync(path.join(d, c.file), c.bytes);
  const res = await cli(['quantize', model, '--data', d, '--check-samples', '1', '-o', path.join(dir, `d${k}.q.onnx`)], ms);
  return { kind: 'data', name: c.name, ...res };
}

// ---------- engine requests ----------

interface Files { conv: string; mlp: string; corrupt: string; recipe: string; dir: string }

/** Params for a method: valid-looking ones with, often, one field replaced by a random value. */
function requestParams(r: Rand, method: string, f: Files, k: number): unknown {
  const model = r() < 0.85 ? r.pick([f.conv, f.mlp]) : r.pick([f.corrupt, f.dir, path.join(f.dir, 'missing.onnx'), '', 5, null]);
  const data = r.pick([undefined, { samples: 1 + r.int(4) }, { samples: 1 + r.int(4) }, { samples: r.pick([0, -3, 1e9, 2.5, 'x']) }, { folder: f.dir }, { builtin: 'mnist', samples: 2 }, { samples: 2, extra: true }]);
  const recipe = r.pick([undefined, f.recipe, { version: 1, defaults: { weights: 'int4/per-channel' } }, { defaults: { weights: randomValue(r, 1) } }, randomValue(r, 2)]);
  const out = r.pick([path.join(f.dir, `out${k}.onnx`), f.dir, '/proc/self/mem', path.join(f.conv, 'sub.onnx')]);
  const p: Record<string, unknown> = (() => {
    switch (method) {
      case 'quant/inspect': return { model };
      case 'quant/analyze': return { model, data, formats: r.pick([undefined, ['w8a8'], ['w4a8', 'int8/per-channel:uint8'], ['int8/per-channel:3:uint8'], ['int4/block:2:uint4'], ['nope'], 'w8a8']), target: r.pick([undefined, { kind: 'min-sqnr-db', value: 20 }, { kind: 'bogus' }]) };
      case 'quant/evaluate': return { model, recipe: recipe ?? {}, data };
      case 'quant/export': return { model, recipe, data, output: out };
      case 'quant/recommend': return { model, target: r.pick([{ kind: 'min-sqnr-db', value: 25 }, { kind: 'max-size-bytes', value: 1000 }, { kind: 'max-accuracy-drop', value: 2 }]), data };
      case 'quant/qat': return { model: r() < 0.7 ? f.mlp : model, recipe, data, steps: r.pick([1, 2, 3, -1, 0]), batchSize: r.pick([undefined, 2, 5000, 0, 1e9]), lr: r.pick([undefined, 1e-3, 'x', -1]), output: out };
      default: return { float: model, quantized: r.pick([path.join(f.dir, 'cls.q.onnx'), f.conv, undefined, f.corrupt]), data };
    }
  })();
  if (r() < 0.2) { const keys = Object.keys(p); if (keys.length) p[r.pick(keys)] = randomValue(r, 2); }
  return r() < 0.05 ? r.pick([null, [1, 2], 'params', 7]) : p;
}

const METHODS = ['quant/inspect', 'quant/analyze', 'quant/evaluate', 'quant/export', 'quant/recommend', 'quant/qat', 'quant/compare'];

/** Sends a batch of 1-4 concurrent requests, cancelling some at a random time; classifies each response. */
async function requestBatch(r: Rand, engine: EngineClient, f: Files, k: number, ms: number): Promise<FuzzResult[]> {
  const n = 1 + r.int(4);
  const cases = Array.from({ length: n }, (_, i) => {
    const method = r.pick(METHODS);
    const params = requestParams(r, method, f, k * 10 + i);
    const cancelAfter = r() < 0.3 ? r.int(800) : undefined;
    return { method, params, cancelAfter };
  });
  return Promise.all(cases.map(async (c) => {
    const source = new CancellationTokenSource();
    if (c.cancelAfter !== undefined) setTimeout(() => source.cancel(), c.cancelAfter);
    const name = `${c.method}${c.cancelAfter !== undefined ? ` cancel@${c.cancelAfter}ms` : ''} ${(JSON.stringify(c.params) ?? '').slice(0, 120)}`;
    const res = await within(engine.connection.sendRequest(c.method, c.params, source.token).then(() => ({ ok: true as const }), (e: unknown) => ({ ok: false as const, e })), ms);
    if (res === 'hang') return { kind: 'request' as const, name, outcome: 'hang' as const };
    if (res.ok) return { kind: 'request' as const, name, outcome: 'ok' as const };
    const e = res.e;
    if (!(e instanceof ResponseError)) return { kind: 'request' as const, name, outcome: 'crash' as const, detail: String(e) };
    if (e.code === EngineErrorCodes.InternalError) return { kind: 'request' as const, name, outcome: 'internal' as const, detail: e.message };
    if (e.code === -32800) return { kind: 'request' as const, name, outcome: 'cancelled' as const };
    return { kind: 'request' as const, name, outcome: 'user-error' as const, detail: e.message.slice(0, 200) };
  }));
}

/** Runs the fuzzer; returns every case's result (the caller asserts on them). */
export async function runFuzz(o: FuzzOptions): Promise<FuzzResult[]> {
  const ms = o.timeoutMs ?? 60_000;
  const log = o.log ?? (() => {});
  const results: FuzzResult[] = [];
  const note = (x: FuzzResult) => { results.push(x); if (!['ok', 'user-error', 'cancelled'].includes(x.outcome)) log(`FAIL ${x.kind} ${x.outcome}: ${x.name}: ${x.detail ?? ''}`); };
  fs.mkdirSync(o.dir, { recursive: true });
  const model = path.join(o.dir, 'tiny.onnx');
  saveModelFile(model, tinyConvNet());
  const base = fs.readFileSync(model);
  const r = rng(o.seed);
  for (let k = 0; k < o.cases.model; k++) note(await modelCase(r, k, o.dir, base, ms));
  for (let k = 0; k < o.cases.recipe; k++) note(await recipeCase(r, k, o.dir, model, ms));
  for (let k = 0; k < o.cases.data; k++) note(await dataCase(r, k, o.dir, model, ms));
  if (o.cases.request > 0) {
    const files: Files = { conv: model, mlp: writeMlp(path.join(o.dir, 'mlp.onnx'), 2, 8), corrupt: path.join(o.dir, 'corrupt.onnx'), recipe: path.join(o.dir, 'ok.qrecipe.json'), dir: o.dir };
    fs.writeFileSync(files.corrupt, base.subarray(0, 300));
    fs.writeFileSync(files.recipe, JSON.stringify({ version: 1, model: 'tiny.onnx', defaults: { weights: 'int8/per-channel' } }));
    const engine = await startEngine({ initializationOptions: { memoryBudgetMB: 256 } });
    try {
      let done = 0;
      for (let k = 0; done < o.cases.request; k++) {
        const batch = await requestBatch(r, engine, files, k, ms);
        for (const x of batch.slice(0, o.cases.request - done)) note(x);
        done += batch.length;
        if (engine.child.exitCode !== null || engine.child.signalCode !== null) { note({ kind: 'request', name: 'engine process', outcome: 'crash', detail: `exited ${engine.child.exitCode ?? engine.child.signalCode}: ${engine.stderr().slice(-500)}` }); break; }
      }
      // The engine still answers, and every job has ended.
      const status = await within(engine.connection.sendRequest(EngineStatusRequest), 10_000);
      if (status === 'hang') note({ kind: 'request', name: 'quant/status after the run', outcome: 'hang' });
      else {
        const settle = Date.now() + 10_000;
        let jobs = status.jobs;
        while (jobs.length && Date.now() < settle) { await new Promise((res) => setTimeout(res, 200)); jobs = (await engine.connection.sendRequest(EngineStatusRequest)).jobs; }
        note({ kind: 'request', name: 'quant/status after the run: no job left', outcome: jobs.length ? 'hang' : 'ok', detail: jobs.map((j) => j.id).join(', ') });
      }
    } finally {
      await engine.close();
    }
  }
  return results;
}

/** Counts of outcomes per kind, e.g. `{model: {ok: 20, 'user-error': 40}}`. */
export function summarize(results: readonly FuzzResult[]): Record<string, Record<string, number>> {
  const out: Record<string, Record<string, number>> = {};
  for (const x of results) { const k = (out[x.kind] ??= {}); k[x.outcome] = (k[x.outcome] ?? 0) + 1; }
  return out;
}
