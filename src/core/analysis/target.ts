/** Parsing the recommendation target a user types: `sqnr:30`, `drop:1%`, `size:120kB` or the long kinds. */
import { QuantLensError } from '../errors';
import { Target } from '../../shared/report';

const UNITS: Record<string, number> = { '': 1, b: 1, kb: 1e3, mb: 1e6, gb: 1e9, kib: 1024, mib: 1024 ** 2, gib: 1024 ** 3 };

/**
 * Parses a target: `sqnr:30` / `min-sqnr-db:30` (output SQNR at least 30 dB), `drop:0.5%` / `drop:0.005` /
 * `max-accuracy-drop:0.005` (accuracy drop at most half a point; top-1 disagreement without labels),
 * `size:120kB` / `max-size-bytes:120000` (weights at most that many bytes).
 */
export function parseTarget(text: string): Target {
  const m = /^\s*([a-z-]+)\s*[:=]\s*(.+?)\s*$/i.exec(text);
  const bad = () => new QuantLensError('bad-target', `unknown target '${text}': use sqnr:<dB>, drop:<fraction or %> or size:<bytes, kB, MB>`);
  if (!m) throw bad();
  const kind = m[1].toLowerCase();
  const value = m[2];
  if (kind === 'sqnr' || kind === 'min-sqnr-db') {
    const v = Number(value.replace(/db$/i, ''));
    if (!Number.isFinite(v)) throw bad();
    return { kind: 'min-sqnr-db', value: v };
  }
  if (kind === 'drop' || kind === 'accuracy-drop' || kind === 'max-accuracy-drop') {
    const p = /%$/.test(value);
    const v = Number(value.replace(/%$/, '')) / (p ? 100 : 1);
    if (!(v >= 0 && v <= 1)) throw new QuantLensError('bad-target', `accuracy drop must be between 0 and 1 (or 0% and 100%), got '${value}'`);
    return { kind: 'max-accuracy-drop', value: v };
  }
  if (kind === 'size' || kind === 'max-size-bytes') {
    const s = /^(\d+(?:\.\d+)?)\s*([kmg]i?b|b)?$/i.exec(value);
    if (!s) throw bad();
    const v = Number(s[1]) * UNITS[(s[2] ?? '').toLowerCase()];
    if (!(v > 0)) throw bad();
    return { kind: 'max-size-bytes', value: Math.round(v) };
  }
  throw bad();
}
