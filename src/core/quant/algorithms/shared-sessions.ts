/**
 * A backend for the repair algorithms' small product graphs (GPTQ's products and inverse factor, the layer error
 * meter: fed operands, no weights): each such graph is loaded once per repair and shared by every layer, instead of
 * three or four session creations per layer (ResNet-50: 49 sessions for 12 layers).
 */
import { InferenceBackend, RuntimeSession, SessionOptions } from '../../runtime/backend';

/** Models at most this big are shared (a product graph is a few hundred bytes; a model with weights is not). */
const SHARED_MAX_BYTES = 64 * 1024;

/** See the module comment: release() of a shared session is a no-op, close() frees them all. */
export class SharedSessions implements InferenceBackend {
  private readonly sessions = new Map<string, Promise<RuntimeSession>>();

  constructor(private readonly inner: InferenceBackend) {}

  get version(): string { return this.inner.version; }

  async createSession(model: Uint8Array | string, options?: SessionOptions): Promise<RuntimeSession> {
    if (typeof model === 'string' || model.byteLength > SHARED_MAX_BYTES || options?.externalData?.length) return this.inner.createSession(model, options);
    const key = `${JSON.stringify(options ?? {})}\u0000${Buffer.from(model.buffer, model.byteOffset, model.byteLength).toString('base64')}`;
    let s = this.sessions.get(key);
    if (!s) {
      s = this.inner.createSession(model, options);
      this.sessions.set(key, s);
      s.catch(() => this.sessions.delete(key));
    }
    const session = await s;
    return { inputNames: session.inputNames, outputNames: session.outputNames, run: (feeds, fetches, into) => session.run(feeds, fetches, into), release: async () => {} };
  }

  /** Frees every shared session. */
  async close(): Promise<void> {
    const all = [...this.sessions.values()];
    this.sessions.clear();
    for (const s of all) await (await s.catch(() => undefined))?.release();
  }
}
