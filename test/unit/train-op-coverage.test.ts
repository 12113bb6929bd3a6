// Every op of the architectures people ship (the zoo: torchvision CNNs, ViT, BERT- and GPT-style transformers,
// fixed-batch models) has a gradient rule, or carries no gradient; every node a parameter's gradient flows
// through has a rule.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Graph } from '../../src/core/onnx/graph';
import { requiresGrad } from '../../src/core/train/autodiff';
import { prepareForTraining } from '../../src/core/train/export';
import { GRAD_RULES, NON_DIFFERENTIABLE } from '../../src/core/train/grad-rules/index';
import { trainableTensors } from '../../src/core/train/quant-plan';
import { opSet, ZOO } from '../fixtures/zoo';

const ARCHITECTURES = ['mobilenet_v2', 'resnet18', 'resnet50', 'efficientnet_b0', 'vit_b_16', 'bert', 'gpt', 'kws_batch1', 'mlp_batch4'];

test('the zoo holds every architecture the gradient rules must cover', () => {
  assert.deepEqual(ZOO.map((z) => z.name).sort(), [...ARCHITECTURES].sort());
});

for (const name of ARCHITECTURES) {
  test(`every op of ${name} has a gradient rule or carries no gradient`, () => {
    const model = prepareForTraining(ZOO.find((z) => z.name === name)!.build({ scale: 'tiny', seed: 1 }).model);
    const missing = opSet(model).filter((op) => !GRAD_RULES[op] && !NON_DIFFERENTIABLE.has(op));
    assert.deepEqual(missing, [], `${name}: ops without a gradient rule`);
    const graph = new Graph(model);
    const params = trainableTensors(graph);
    assert.ok(params.length > 0, `${name}: trainable tensors found`);
    const req = requiresGrad(graph.nodes, params);
    const unruled = graph.nodes.filter((n) => n.inputs.some((i) => req.has(i)) && !NON_DIFFERENTIABLE.has(n.opType) && !GRAD_RULES[n.opType]);
    assert.deepEqual(unruled.map((n) => n.opType), []);
  });
}
