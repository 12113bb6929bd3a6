// `npm run bench:qat`: ms per QAT training step (W4A8 fake quant) vs one FP32 forward pass in ONNX Runtime, MNIST CNN and MLP, batch 64.
import { DataType, encodeModelProto, ModelProto } from '../src/core/onnx/proto';
import { ortBackend } from '../src/core/runtime/ort-backend';
import { mnistCnn, mnistMlp } from '../src/core/train/examples';
import { gatherRows, logitsTensor } from '../src/core/train/qat';
import { Graph } from '../src/core/onnx/graph';
import { probeModel } from '../src/core/train/shape-probe';
import { buildTrainStep } from '../src/core/train/train-step';
import { initActivationScale, initWeightScales, planFromRecipe, trainableTensors, constFloat } from '../src/core/train/quant-plan';
import { OPT_INPUTS } from '../src/core/train/optimizer';
import { loopTrainStep } from '../src/core/train/loop';
import { Rng } from '../src/core/train/random';
import { sizeOf, Tensor } from '../src/core/onnx/tensor-data';

const B = 64;
const K = Number(process.env.QL_STEPS_PER_RUN ?? 8);
const threads = Number(process.env.QL_THREADS ?? 1);

async function timeIt(fn: () => Promise<unknown>, reps: number): Promise<number> {
  for (let i = 0; i < 3; i++) await fn();
  const t = process.hrtime.bigint();
  for (let i = 0; i < reps; i++) await fn();
  return Number(process.hrtime.bigint() - t) / 1e6 / reps;
}

async function bench(name: string, model: ModelProto, reps: number) {
  const backend = ortBackend();
  const graph = new Graph(model);
  const rng = new Rng(1);
  const x: Tensor = { type: DataType.FLOAT, dims: [B, 1, 28, 28], data: Float32Array.from({ length: B * 784 }, () => rng.next()) };
  const fwd = await backend.createSession(encodeModelProto(model), { threads });
  const fwdMs = await timeIt(() => fwd.run({ input: x }), reps);
  await fwd.release();
  const probe = await probeModel(backend, model, { input: x });
  const { specs } = planFromRecipe(graph, { defaults: { weights: 'int4/per-channel', activations: 'uint8' }, layers: {} }, true);
  for (const s of specs) {
    if (s.role === 'weight') initWeightScales(s, constFloat(graph, s.tensor), probe.shapes.get(s.tensor)!, 'minmax');
    else initActivationScale(s, 0, 4);
  }
  const params = trainableTensors(graph);
  const step = buildTrainStep({ model, probe, params, fakeQuant: specs, loss: { crossEntropy: 1, distill: 0, distillKind: 'kl', temperature: 1 }, logits: logitsTensor(graph), optimizer: { kind: 'adam' } });
  const s = await backend.createSession(encodeModelProto(step.model), { threads });
  const feeds: Record<string, Tensor> = { input: x, [step.labels!]: { type: DataType.FLOAT, dims: [B, 10], data: Float32Array.from({ length: B * 10 }, (_, i) => (i % 10 === 3 ? 1 : 0)) } };
  const sc = (v: number): Tensor => ({ type: DataType.FLOAT, dims: [], data: Float32Array.of(v) });
  feeds[OPT_INPUTS.lr] = sc(1e-4); feeds[OPT_INPUTS.bc1] = sc(0.1); feeds[OPT_INPUTS.bc2] = sc(0.001);
  for (const p of params) feeds[p] = { type: DataType.FLOAT, dims: probe.shapes.get(p)!, data: constFloat(graph, p) };
  for (const st of step.state) feeds[st] = { type: DataType.FLOAT, dims: step.shapes.get(st)!, data: new Float32Array(sizeOf(step.shapes.get(st)!)) };
  specs.forEach((sp, k) => { feeds[step.scales[k]] = { type: DataType.FLOAT, dims: step.shapes.get(step.scales[k])!, data: sp.scale }; });
  void gatherRows;
  const stepMs = await timeIt(() => s.run(feeds), reps);
  await s.release();
  // K steps per run inside an ONNX Loop.
  const loop = loopTrainStep(step);
  const ls = await backend.createSession(encodeModelProto(loop.model), { threads });
  const lf: Record<string, Tensor> = { [loop.trips]: { type: DataType.INT64, dims: [], data: BigInt64Array.of(BigInt(K)) } };
  for (const p of loop.perStep) {
    const t = feeds[p.name];
    const data = new Float32Array(K * t.data.length);
    for (let k = 0; k < K; k++) data.set(t.data as Float32Array, k * t.data.length);
    lf[p.seq] = { type: DataType.FLOAT, dims: [K, ...t.dims], data };
  }
  for (const c of loop.carried) lf[c.init] = feeds[c.name];
  for (const [k, v] of Object.entries(feeds)) if (!(k in lf) && !loop.perStep.some((p) => p.name === k) && !loop.carried.some((c) => c.name === k)) lf[k] = v;
  const loopMs = (await timeIt(() => ls.run(lf), Math.max(3, Math.round(reps / K)))) / K;
  await ls.release();
  const best = Math.min(stepMs, loopMs);
  return { name, fwdMs, stepMs, loopMs, ratio: best / fwdMs, samplesPerSec: (B * 1000) / best };
}

async function main() {
  const rows = [await bench('MNIST CNN', mnistCnn(1), 30), await bench('MNIST MLP', mnistMlp(1), 200)];
  console.log(`QAT training step (W4A8 per-channel fake quant, LSQ, Adam) vs FP32 forward, batch ${B}, ${threads} thread(s), onnxruntime-node`);
  console.log(`model       fp32 fwd ms   step ms (1/run)   step ms (${K}/run, Loop)   ratio (best/fwd)   samples/s`);
  for (const r of rows) console.log(`${r.name.padEnd(11)} ${r.fwdMs.toFixed(3).padStart(11)} ${r.stepMs.toFixed(3).padStart(17)} ${r.loopMs.toFixed(3).padStart(24)} ${r.ratio.toFixed(2).padStart(18)} ${r.samplesPerSec.toFixed(0).padStart(11)}`);
}
main().catch((e) => { console.error(e); process.exit(1); });
