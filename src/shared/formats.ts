/** Number formats of the recipe language: `int4/per-channel`, `uint8`, `int4/block:32`, `float16`, `float`. */

/** How a quantization scale is shared across a tensor. */
export type Granularity =
  | { kind: 'tensor' }
  | { kind: 'channel'; axis?: number }
  | { kind: 'block'; size: number; axis?: number };

/** A parsed number format. `float` means: keep in float32 (not quantized). */
export type NumberFormat =
  | { kind: 'int'; bits: number; signed: boolean; symmetric: boolean; granularity: Granularity }
  | { kind: 'float16' }
  | { kind: 'bfloat16' }
  | { kind: 'float8'; variant: 'e4m3fn' | 'e5m2' }
  | { kind: 'float' };

/** The result of parsing a format string. */
export type FormatParse = { ok: true; format: NumberFormat } | { ok: false; error: string };

/** Every integer bit width the core supports. */
export const INT_BITS = [2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16] as const;

/** Example format strings, for completion and help. */
export const FORMAT_EXAMPLES = [
  'int8/per-channel', 'int8/per-tensor', 'int4/per-channel', 'int4/block:32', 'int4/block:64', 'int2/per-channel',
  'int16', 'uint8', 'int8', 'uint16', 'float16', 'bfloat16', 'float8e4m3', 'float',
];

/** Parses a format string: `<type>[/<granularity>][/sym|/asym]`. */
export function parseFormat(text: string): FormatParse {
  const parts = text.trim().toLowerCase().split('/').map((p) => p.trim());
  const head = parts[0];
  if (head === 'float' || head === 'float32' || head === 'fp32') return rest(parts, { kind: 'float' });
  if (head === 'float16' || head === 'fp16') return rest(parts, { kind: 'float16' });
  if (head === 'bfloat16' || head === 'bf16') return rest(parts, { kind: 'bfloat16' });
  if (head === 'float8e4m3' || head === 'fp8e4m3' || head === 'float8e4m3fn') return rest(parts, { kind: 'float8', variant: 'e4m3fn' });
  if (head === 'float8e5m2' || head === 'fp8e5m2') return rest(parts, { kind: 'float8', variant: 'e5m2' });
  const m = /^(u?)int(\d+)$/.exec(head);
  if (!m) {
    const fm = /^(?:float|fp)(\d+)$/.exec(head);
    if (fm) return { ok: false, error: `'${head}' is not a supported float format: use float16, bfloat16, float8e4m3, float8e5m2 or float (32-bit)` };
    return { ok: false, error: `unknown number format '${head}': expected intN or uintN (N = 2..16), float16, bfloat16, float8e4m3, float8e5m2 or float` };
  }
  const signed = m[1] === '';
  const bits = Number(m[2]);
  if (!(bits >= 2 && bits <= 16)) return { ok: false, error: `${head}: integer formats take 2 to 16 bits` };
  let granularity: Granularity = { kind: 'tensor' };
  let symmetric = signed;
  for (const p of parts.slice(1)) {
    if (p === 'per-tensor' || p === 'tensor') granularity = { kind: 'tensor' };
    else if (p === 'per-channel' || p === 'channel' || p === 'pc') granularity = { kind: 'channel' };
    else if (/^per-channel:\d+$/.test(p)) granularity = { kind: 'channel', axis: Number(p.split(':')[1]) };
    else if (/^block:\d+$/.test(p)) {
      const size = Number(p.split(':')[1]);
      if (size < 2) return { ok: false, error: `${text}: block size must be at least 2` };
      granularity = { kind: 'block', size };
    } else if (p === 'sym' || p === 'symmetric') symmetric = true;
    else if (p === 'asym' || p === 'asymmetric') symmetric = false;
    else return { ok: false, error: `${text}: unknown option '${p}' (expected per-tensor, per-channel, per-channel:<axis>, block:<size>, sym or asym)` };
  }
  return { ok: true, format: { kind: 'int', bits, signed, symmetric, granularity } };
}

function rest(parts: string[], format: NumberFormat): FormatParse {
  if (parts.length > 1) return { ok: false, error: `${parts.join('/')}: ${parts[0]} takes no options` };
  return { ok: true, format };
}

/** Parses a format string, throwing on error. */
export function mustParseFormat(text: string): NumberFormat {
  const r = parseFormat(text);
  if (!r.ok) throw new Error(r.error);
  return r.format;
}

/** The canonical string of a format (parseFormat(formatToString(f)) equals f). */
export function formatToString(f: NumberFormat): string {
  switch (f.kind) {
    case 'float': return 'float';
    case 'float16': return 'float16';
    case 'bfloat16': return 'bfloat16';
    case 'float8': return f.variant === 'e4m3fn' ? 'float8e4m3' : 'float8e5m2';
    case 'int': {
      let s = `${f.signed ? '' : 'u'}int${f.bits}`;
      const g = f.granularity;
      if (g.kind === 'channel') s += g.axis === undefined ? '/per-channel' : `/per-channel:${g.axis}`;
      else if (g.kind === 'block') s += `/block:${g.size}`;
      if (f.symmetric !== f.signed) s += f.symmetric ? '/sym' : '/asym';
      return s;
    }
  }
}

/** Bits stored per element (for model-size estimates). */
export function formatBits(f: NumberFormat): number {
  switch (f.kind) {
    case 'int': return f.bits;
    case 'float16': case 'bfloat16': return 16;
    case 'float8': return 8;
    case 'float': return 32;
  }
}

/** A short label for charts: `w4-pc`, `w8`, `a16`, `fp16`. */
export function shortLabel(role: 'w' | 'a', f: NumberFormat): string {
  if (f.kind === 'float') return `${role}32`;
  if (f.kind !== 'int') return `${role}-${formatToString(f)}`;
  const g = f.granularity.kind === 'channel' ? '-pc' : f.granularity.kind === 'block' ? `-b${f.granularity.size}` : '';
  return `${role}${f.bits}${g}`;
}
