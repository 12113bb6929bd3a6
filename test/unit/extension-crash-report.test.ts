import assert from 'node:assert/strict';
import { test } from 'node:test';
import { crashMessage } from '../../src/extension/crash-report';

test('a crash during a job names the job, the model and the step', () => {
  const text = JSON.stringify({ pid: 42, jobs: [{ job: 'j3', kind: 'analyze', model: '/ws/models/cls.onnx', step: 'analysing layer p2o.Conv.12 (13/54)' }] });
  const m = crashMessage(text);
  assert.match(m, /analyze of cls\.onnx at step 'analysing layer p2o\.Conv\.12 \(13\/54\)'/);
  assert.match(m, /starts again with the next request/);
});

test('several jobs are all named; an idle, missing or garbled step file still gives a message', () => {
  const two = crashMessage(JSON.stringify({ jobs: [{ kind: 'qat', model: 'a.onnx', step: 'step 10/40' }, { kind: 'export', model: 'b.onnx', step: 'calibrating' }] }));
  assert.match(two, /qat of a\.onnx at step 'step 10\/40'; export of b\.onnx at step 'calibrating'/);
  assert.match(crashMessage(JSON.stringify({ pid: 1, jobs: [] })), /while idle/);
  assert.match(crashMessage(undefined), /while idle/);
  assert.match(crashMessage('{not json'), /while idle/);
});
