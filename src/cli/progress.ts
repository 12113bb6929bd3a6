/** A progress bar for long CLI steps: redraws one line on a TTY, prints an occasional plain line otherwise. */

/** A running progress display. */
export interface Progress {
  /** Reports `done` of `total` units, with an optional short note (e.g. the current layer). */
  update(done: number, note?: string): void;
  /** Finishes the display (a TTY line is completed with a newline). */
  finish(note?: string): void;
}

/** Options of createProgress. */
export interface ProgressOptions {
  /** Force TTY or plain mode (default: the stream's isTTY). */
  tty?: boolean;
  /** Plain mode prints at most every this many milliseconds (plus at 0% and 100%). Default 5000. */
  plainIntervalMs?: number;
  /** The clock (tests). */
  now?: () => number;
}

/** Creates a progress display for `label` over `total` units on `stream` (stderr by default). */
export function createProgress(label: string, total: number, stream: NodeJS.WritableStream & { isTTY?: boolean; columns?: number } = process.stderr, options: ProgressOptions = {}): Progress {
  const tty = options.tty ?? !!stream.isTTY;
  const now = options.now ?? Date.now;
  const start = now();
  const interval = options.plainIntervalMs ?? 5000;
  let lastDraw = -Infinity;
  let lastDone = -1;
  let finished = false;
  const pct = (done: number) => (total > 0 ? Math.min(100, Math.floor((100 * done) / total)) : 100);
  const eta = (done: number) => {
    const el = (now() - start) / 1000;
    if (done <= 0 || done >= total) return `${el.toFixed(1)}s`;
    return `${el.toFixed(1)}s, ~${((el * (total - done)) / done).toFixed(0)}s left`;
  };
  const draw = (done: number, note?: string) => {
    if (tty) {
      const cols = stream.columns || 80;
      const barWidth = Math.max(10, Math.min(30, cols - label.length - 40));
      const filled = Math.round((barWidth * pct(done)) / 100);
      let text = `${label} [${'#'.repeat(filled)}${'-'.repeat(barWidth - filled)}] ${done}/${total} ${eta(done)}${note ? ` ${note}` : ''}`;
      if (text.length > cols - 1) text = text.slice(0, cols - 1);
      stream.write(`\r\x1b[2K${text}`);
    } else {
      stream.write(`${label}: ${done}/${total} (${pct(done)}%) ${eta(done)}${note ? ` ${note}` : ''}\n`);
    }
  };
  return {
    update(done, note) {
      if (finished) return;
      const t = now();
      const due = tty ? t - lastDraw >= 100 || done >= total : lastDone < 0 || t - lastDraw >= interval || (done >= total && lastDone < total);
      lastDone = done;
      if (!due) return;
      lastDraw = t;
      draw(done, note);
      if (!tty && done >= total) lastDone = total;
    },
    finish(note) {
      if (finished) return;
      finished = true;
      if (tty) { draw(Math.max(lastDone, 0) >= total ? total : Math.max(lastDone, 0), note); stream.write('\n'); }
      else if (note) stream.write(`${label}: ${note}\n`);
    },
  };
}
