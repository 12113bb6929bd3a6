/**
 * Messages between the engine's main thread and its worker thread (src/engine/main.ts and src/engine/worker.ts).
 * The worker runs the whole engine (models, caches, jobs, recipe features); the main thread relays the client's
 * JSON-RPC messages to it unchanged, so requests, progress, partial results and errors keep the shapes and codes
 * of src/shared/protocol.ts. Besides the relayed messages the worker tells the main thread just enough to answer
 * `quant/status` and end a cancelled job's request while the worker is stuck in a long synchronous call.
 */
import type { Message } from 'vscode-jsonrpc';
import type { EngineStatus } from './protocol';

/** Main thread → worker: a JSON-RPC message from the client. */
export interface ToEngineWorker {
  type: 'rpc';
  message: Message;
}

/** Worker → main thread. */
export type FromEngineWorker =
  /** A JSON-RPC message for the client. */
  | { type: 'rpc'; message: Message }
  /** The engine's state after a change (a job started, moved on or ended): answers `quant/status` while the worker is busy. */
  | { type: 'status'; status: EngineStatus }
  /** Job `job` runs for the client's request `request` (so cancelling either ends the other at once). */
  | { type: 'job'; job: string; request: number | string };
