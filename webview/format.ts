/** Number formatting for the webviews: dB, sizes, counts, percentages, durations. Pure. */

/** `23.4 dB`; `∞ dB` for exact; `–` when missing or undefined (NaN, or null from JSON: zero reference output). */
export function formatDb(db: number | null | undefined): string {
  if (db === undefined || db === null || Number.isNaN(db)) return '–';
  if (db === Infinity) return '∞ dB';
  if (db === -Infinity) return '-∞ dB';
  return `${db.toFixed(1)} dB`;
}

/** Bytes as `812 B`, `1.5 KiB`, `3.20 MiB`, `1.05 GiB`. */
export function formatBytes(n: number | undefined): string {
  if (n === undefined || !Number.isFinite(n)) return '–';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let u = 0;
  while (Math.abs(v) >= 1024 && u < units.length - 1) { v /= 1024; u++; }
  return u === 0 ? `${Math.round(v)} B` : `${v.toFixed(v < 10 ? 2 : 1)} ${units[u]}`;
}

/** Counts as `950`, `12.3k`, `4.56M`, `7.1G`. */
export function formatCount(n: number | undefined): string {
  if (n === undefined || !Number.isFinite(n)) return '–';
  const a = Math.abs(n);
  if (a < 1000) return String(Math.round(n));
  if (a < 1e6) return `${(n / 1e3).toFixed(a < 1e4 ? 2 : 1)}k`;
  if (a < 1e9) return `${(n / 1e6).toFixed(a < 1e7 ? 2 : 1)}M`;
  return `${(n / 1e9).toFixed(a < 1e10 ? 2 : 1)}G`;
}

/** A 0..1 fraction as `97.3%`. */
export function formatPercent(x: number | undefined, digits = 1): string {
  if (x === undefined || !Number.isFinite(x)) return '–';
  return `${(x * 100).toFixed(digits)}%`;
}

/** Seconds as `42 s`, `3 min 05 s`, `1 h 02 min`. */
export function formatDuration(seconds: number | undefined): string {
  if (seconds === undefined || !Number.isFinite(seconds) || seconds < 0) return '–';
  const s = Math.round(seconds);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, '0')} s`;
  return `${Math.floor(s / 3600)} h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')} min`;
}

/** A general number with about 4 significant digits (`0.0123`, `1.235e-6`, `1234`). */
export function formatNumber(x: number | undefined): string {
  if (x === undefined || Number.isNaN(x)) return '–';
  if (!Number.isFinite(x)) return x > 0 ? '∞' : '-∞';
  if (x === 0) return '0';
  const a = Math.abs(x);
  if (a >= 1e5 || a < 1e-3) return x.toExponential(2);
  return String(Number(x.toPrecision(4)));
}

/** A shape as `[1, 3, 224, 224]`; symbolic dims as given. */
export function formatShape(dims: ReadonlyArray<number | string> | undefined): string {
  return dims ? `[${dims.join(', ')}]` : '–';
}
