// A model over 2 GiB with external data, generated on the fly (an MLP whose weights are written in chunks: the test
// never holds them): inspect reports its real size, quantize keeps the big float layers and writes the export over
// 2 GiB with external data beside it, analyze gives a report with finite numbers, and qat trains it within a memory
// budget too small for its weights (the quantization scales only, the weights frozen and read by ONNX Runtime from
// the external data) and exports over 2 GiB with external data. No step builds a protobuf over 2 GiB (that throws).
// Everything is written under os.tmpdir() and removed in `finally`.
import { test } from 'node:test';
import { tempDir } from '../fixtures/temp-dir';
import assert from 'node:assert/strict';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { runCli } from '../../src/cli/main';
import { ortBackend } from '../../src/core/runtime/ort-backend';
import { externalRef } from '../../src/core/onnx/external-data';
import { loadModelFile } from '../../src/core/onnx/model-file';
import { DataType } from '../../src/core/onnx/proto';
import { captureIO } from '../fixtures/tiny-models';
import { writeBigMlp } from '../fixtures/zoo/big-mlp';

test('a 2.4 GB external-data model: inspect, quantize (export over 2 GiB with external data), analyze, qat', { timeout: 900_000 }, async () => {
  const dir = tempDir('ql-big-');
  try {
    const big = writeBigMlp(dir, 'mlp');
    assert.ok(big.dataBytes > 2 ** 31, `${big.dataBytes} bytes of weights`);
    const cli = async (argv: string[]) => {
      const io = captureIO();
      const code = await runCli(argv, io);
      assert.equal(code, 0, `${argv[0]} failed:\n${io.stderr()}\n${io.stdout()}`);
      return io;
    };

    const inspect = await cli(['inspect', big.model, '--json']);
    const summary = JSON.parse(inspect.stdout()).summary;
    assert.ok(summary.fileSize > big.dataBytes, `size ${summary.fileSize} counts the external data`);
    assert.equal(summary.layerCount, 5);
    assert.match(inspect.stderr(), /Loading the model in ONNX Runtime \(2\.\d+ GB\)/, 'progress while the big model loads');

    // keep the four big layers float, quantize the head: the export is over 2 GiB, so it gets a data file
    const recipe = path.join(dir, 'keep.qrecipe.json');
    const layers = Object.fromEntries([0, 1, 2, 3].map((k) => [`/fc${k}/MatMul`, 'float']));
    fs.writeFileSync(recipe, JSON.stringify({ version: 1, defaults: { weights: 'int8/per-channel', activations: 'uint8' }, layers }));
    const out = path.join(dir, 'out', 'q.onnx');
    const q = await cli(['quantize', big.model, '-o', out, '--recipe', recipe, '--synthetic', '--samples', '2', '--check-samples', '2', '--threads', '2', '--json']);
    const result = JSON.parse(q.stdout());
    assert.ok(result.sizeAfter > 2 ** 31, `export size ${result.sizeAfter} counts its data file`);
    assert.ok(result.outputSqnrDb.y > 30, `output SQNR ${result.outputSqnrDb.y} dB`);
    assert.deepEqual(fs.readdirSync(path.dirname(out)).sort(), ['q.onnx', 'q.onnx.data'], 'only the model and its data, nothing temporary');
    assert.ok(fs.statSync(out).size < 1 << 20, 'the .onnx holds the graph, not the weights');
    const exported = loadModelFile(out);
    const inits = new Map(exported.graph!.initializer!.map((t) => [t.name!, t]));
    const fc0 = inits.get('fc0.weight')!;
    assert.equal(externalRef(fc0)?.file, fs.realpathSync(`${out}.data`), 'float weights copied into the output folder');
    assert.ok([...inits.values()].some((t) => t.data_type === DataType.INT8), 'the head is quantized');

    // analyze: the screening reads the big weights through their factors and the isolated runs feed them (nothing
    // weight-sized is baked or copied per layer); one format and 2 samples keep it to about a minute
    const report = path.join(dir, 'report.json');
    await cli(['analyze', big.model, '--synthetic', '--samples', '2', '--formats', 'w8a8', '--no-all-but-one', '--no-resume', '--threads', '2', '-o', report]);
    const r = JSON.parse(fs.readFileSync(report, 'utf8'));
    assert.equal(r.layers.length, 5);
    assert.equal(r.method.unscreenedLayers, 0, r.warnings.join('\n'));
    for (const l of r.layers) {
      const f = l.formats.w8a8;
      assert.ok(Number.isFinite(f.estimate) && Number.isFinite(f.weightSqnrDb), `${l.name}: ${JSON.stringify({ ...f, weightChannelSqnrDb: undefined })}`);
      if (f.isolated) assert.ok(Number.isFinite(f.isolated.sqnrDb), `${l.name} measured: ${f.isolated.sqnrDb}`);
    }
    assert.ok(r.layers.some((l: { measured?: boolean }) => l.measured), 'the decisive layers are measured exactly');
    assert.ok(Number.isFinite(r.allQuantized.w8a8.sqnrDb), 'the whole model quantized');
    // fan-in 12288: repair (hours of GPTQ in JS) is not a default here, and the report says so per layer
    assert.deepEqual(r.layers.map((l: { repairNotComputed?: string }) => l.repairNotComputed), Array(5).fill('too-large'));
    assert.ok(r.warnings.some((w: string) => /repair not computed on 5 layer\(s\) too large/.test(w)), r.warnings.join('\n'));

    // qat with an 8 GiB budget (training the 2.4 GB of weights with Adam needs about 19 GB): the scales of the
    // activations and of the head weight train, the weights stay frozen; the big layers keep float weights, so the
    // export is over 2 GiB and gets a data file
    const qrecipe = path.join(dir, 'qat.qrecipe.json');
    const floatWeights = Object.fromEntries([0, 1, 2, 3].map((k) => [`/fc${k}/MatMul`, { weights: 'float' }]));
    fs.writeFileSync(qrecipe, JSON.stringify({ version: 1, defaults: { weights: 'int8/per-channel', activations: 'uint8' }, layers: floatWeights }));
    const qatOut = path.join(dir, 'qat', 't.onnx');
    const t = await cli(['qat', big.model, '-o', qatOut, '--recipe', qrecipe, '--synthetic', '--samples', '2', '--steps', '2', '--threads', '2', '--memory', '8192']);
    const said = /Trained: quantization parameters only, 5 learned quantization scales; 5 weight tensors \(2\.42 GB\) frozen: training them with the optimizer needs about 19\.33 GB, over the 8\.59 GB memory budget/;
    assert.match(t.stdout(), said, t.stdout());
    assert.match(t.stderr(), said, 'said before training starts too');
    assert.deepEqual(fs.readdirSync(path.dirname(qatOut)).sort(), ['t.onnx', 't.onnx.data', 't.qrecipe.json', 't.training-log.json'], 'the model, its data, the learned scales and the log: nothing temporary');
    assert.ok(fs.statSync(`${qatOut}.data`).size > 2 ** 31 && fs.statSync(qatOut).size < 1 << 20, 'the weights are in the data file');
    const log = JSON.parse(fs.readFileSync(path.join(dir, 'qat', 't.training-log.json'), 'utf8'));
    assert.deepEqual([log.trained.kind, log.trained.reason, log.trained.frozenTensors, log.entries.length], ['quant-params', 'over-budget', 5, 2]);
    assert.ok(log.entries.every((e: { loss: number }) => Number.isFinite(e.loss)));
    const session = await ortBackend().createSession(qatOut, { threads: 2 });
    try {
      const x = Float32Array.from({ length: 2 * 12288 }, (_, i) => Math.sin(i));
      const y = (await session.run({ x: { type: DataType.FLOAT, dims: [2, 12288], data: x } })).y;
      assert.deepEqual(y.dims, [2, 10]);
      assert.ok(Array.from(y.data as Float32Array).every(Number.isFinite), 'the export runs in ONNX Runtime');
    } finally {
      await session.release();
    }
    const learned = JSON.parse(fs.readFileSync(path.join(dir, 'qat', 't.qrecipe.json'), 'utf8'));
    assert.ok(learned.layers['/head/MatMul'].scales['head.weight'].length === 10, 'the head weight scales are written');

  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
