/**
 * The engine's main thread: relays JSON-RPC messages between the client and the engine worker, and answers what
 * must not wait for the worker. `quant/status` goes to the worker (so its answer follows the messages before it)
 * but is answered from the worker's last reported state when the worker does not reply within STATUS_WAIT_MS; a
 * cancelled job's request (`$/cancelRequest` or `quant/cancelJob`) is answered as cancelled at once and the job
 * leaves the job list, while the worker stops it at its next chance (after ONNX Runtime's current call returns).
 */
import { Message } from 'vscode-jsonrpc';
import { LSPErrorCodes } from 'vscode-languageserver';
import type { NotificationMessage, ResponseMessage } from 'vscode-jsonrpc';
import type { FromEngineWorker, ToEngineWorker } from '../shared/job-messages';
import {
  AnalyzeRequest, CancelJobNotification, CompareRequest, EngineStatusRequest, EvaluateRequest, ExportRequest, GraphRequest, InspectRequest, JobsNotification,
  QatRequest, RecommendRequest,
} from '../shared/protocol';
import type { EngineErrorData, EngineStatus, JobInfo } from '../shared/protocol';

/** How long `quant/status` waits for the worker before the main thread answers from the last known state. */
export const STATUS_WAIT_MS = 250;

type Id = number | string;

/** The requests the engine runs as jobs (src/engine/requests/index.ts): their cancellation is answered here. */
const JOB_REQUESTS = new Set([InspectRequest, GraphRequest, AnalyzeRequest, EvaluateRequest, RecommendRequest, QatRequest, ExportRequest, CompareRequest].map((r) => r.method));

/** A client request forwarded to the worker and not answered yet. */
interface Pending {
  method: string;
  /** The main thread already answered it (status from the last state, or a cancelled job): the worker's answer is dropped. */
  answered?: boolean;
  /** The job running for it, once the worker said so. */
  job?: string;
}

/** Routes messages between the client and the worker (see the file comment). */
export class Relay {
  private readonly pending = new Map<Id, Pending>();
  private readonly requestOfJob = new Map<string, Id>();
  /** Jobs whose request the main thread answered as cancelled while the worker still finishes them. */
  private readonly cancelled = new Set<string>();
  private status: EngineStatus = { models: [], cacheBytes: 0, budgetBytes: 0, threads: 1, jobs: [] };
  /** True once the client sent `shutdown`. */
  shutdownRequested = false;

  constructor(
    private readonly toClient: (m: Message) => void,
    private readonly toWorker: (m: ToEngineWorker) => void,
  ) {}

  /** A message from the client. */
  fromClient(m: Message): void {
    if (Message.isRequest(m) && m.id !== null) {
      this.pending.set(m.id, { method: m.method });
      if (m.method === 'shutdown') this.shutdownRequested = true;
      if (m.method === EngineStatusRequest.method) this.answerStatusLater(m.id);
    } else if (Message.isNotification(m)) {
      const id = (m.params as { id?: unknown } | undefined)?.id;
      if (m.method === '$/cancelRequest' && (typeof id === 'number' || typeof id === 'string')) this.cancelNow(id);
      if (m.method === CancelJobNotification.method && typeof id === 'string') {
        const request = this.requestOfJob.get(id);
        if (request !== undefined) this.cancelNow(request);
      }
    }
    this.toWorker({ type: 'rpc', message: m });
  }

  /** A message from the worker. */
  fromWorker(m: FromEngineWorker): void {
    if (m.type === 'status') {
      this.status = m.status;
      return;
    }
    if (m.type === 'job') {
      const p = this.pending.get(m.request);
      if (!p) return; // already answered
      p.job = m.job;
      this.requestOfJob.set(m.job, m.request);
      if (p.answered) this.cancelled.add(m.job); // cancelled before the worker got to it: it stops at once, unseen
      return;
    }
    const msg = m.message;
    if (Message.isResponse(msg) && msg.id !== null) {
      const p = this.pending.get(msg.id);
      this.pending.delete(msg.id);
      if (p?.job) this.requestOfJob.delete(p.job);
      if (p?.answered) return;
      if (p?.method === EngineStatusRequest.method && msg.result) {
        this.status = msg.result as EngineStatus;
        this.toClient({ ...msg, result: { ...this.status, jobs: this.visibleJobs() } } as ResponseMessage);
        return;
      }
    } else if (Message.isNotification(msg) && msg.method === JobsNotification.method) {
      const jobs = (msg.params as { jobs: JobInfo[] }).jobs;
      for (const id of this.cancelled) if (!jobs.some((j) => j.id === id)) this.cancelled.delete(id);
      this.status = { ...this.status, jobs };
      this.toClient(this.jobsNotification());
      return;
    }
    this.toClient(msg);
  }

  /** Answers a status request from the last known state unless the worker answers first. */
  private answerStatusLater(id: Id): void {
    setTimeout(() => {
      const p = this.pending.get(id);
      if (!p || p.answered) return;
      p.answered = true;
      const result: EngineStatus = { ...this.status, jobs: this.visibleJobs() };
      this.toClient({ jsonrpc: '2.0', id, result } as ResponseMessage);
    }, STATUS_WAIT_MS);
  }

  /** Answers a job's request as cancelled now (started or still queued in the worker) and drops the job from the list the client sees. */
  private cancelNow(request: Id): void {
    const p = this.pending.get(request);
    if (!p || p.answered || !JOB_REQUESTS.has(p.method)) return; // not a job (the worker answers it), or already answered
    p.answered = true;
    if (p.job) this.cancelled.add(p.job);
    const step = this.status.jobs.find((j) => j.id === p.job)?.message ?? 'starting';
    const data: EngineErrorData = { code: 'cancelled', step };
    this.toClient({ jsonrpc: '2.0', id: request, error: { code: LSPErrorCodes.RequestCancelled, message: 'cancelled', data } } as ResponseMessage);
    this.toClient(this.jobsNotification());
  }

  private visibleJobs(): JobInfo[] {
    return this.status.jobs.filter((j) => !this.cancelled.has(j.id));
  }

  private jobsNotification(): NotificationMessage {
    return { jsonrpc: '2.0', method: JobsNotification.method, params: { jobs: this.visibleJobs() } };
  }
}
