/** A standalone HTML report (inline CSS and SVG, no scripts, no network) of an AnalysisReport. */
import { AnalysisReport, EndToEndMetrics, LayerReport, ParetoPoint, REPAIR_NOT_COMPUTED } from '../../shared/report';

/** Escapes text for HTML element content and attribute values. */
export function escapeHtml(s: unknown): string {
  return String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

const fmt = (v: number | undefined, d = 1) => (v === undefined || !Number.isFinite(v) ? '–' : v.toFixed(d));
const pct = (v: number | undefined) => (v === undefined ? '–' : `${(100 * v).toFixed(2)}%`);
/** Bars are scaled to this many dB. */
const BAR_MAX_DB = 60;
const PALETTE = ['#3b82f6', '#ef4444', '#10b981', '#f59e0b', '#8b5cf6', '#06b6d4', '#ec4899', '#84cc16'];

function metricsCells(m: EndToEndMetrics | undefined): string {
  if (!m) return '<td colspan="5">–</td>';
  return `<td class="n">${fmt(m.sqnrDb)}</td><td class="n">${fmt(m.cosine, 5)}</td><td class="n">${m.klDiv === undefined ? '–' : m.klDiv.toExponential(2)}</td><td class="n">${pct(m.top1Agreement)}</td><td class="n">${pct(m.accuracy)}</td>`;
}

function barCell(db: number | undefined, color: string, estimate?: number): string {
  if (db === undefined && estimate !== undefined) {
    const w = Math.max(0, Math.min(1, estimate / BAR_MAX_DB)) * 100;
    return `<td class="bar est" title="first-order estimate, not measured"><svg width="110" height="12" role="img" aria-label="about ${escapeHtml(fmt(estimate))} dB, estimated"><rect x="0" y="1" width="${w.toFixed(1)}" height="10" fill="${color}" fill-opacity="0.45"/></svg> <em>~${escapeHtml(fmt(estimate))} (est.)</em></td>`;
  }
  if (db === undefined) return '<td class="bar">–</td>';
  const w = Math.max(0, Math.min(1, db / BAR_MAX_DB)) * 100;
  return `<td class="bar"><svg width="110" height="12" role="img" aria-label="${escapeHtml(fmt(db))} dB"><rect x="0" y="1" width="${w.toFixed(1)}" height="10" fill="${color}"/></svg> ${escapeHtml(fmt(db))}</td>`;
}

function paretoSvg(points: ParetoPoint[], chosen: string[] | undefined, floatSize: number): string {
  if (!points.length) return '';
  const W = 560, H = 300, L = 60, B = 40, T = 15, R = 20;
  const xs = points.map((p) => p.sizeBytes), ys = points.map((p) => p.metrics.sqnrDb);
  const x0 = Math.min(...xs), x1 = Math.max(...xs, x0 + 1);
  const y0 = Math.min(...ys), y1 = Math.max(...ys, y0 + 1);
  const px = (x: number) => L + ((x - x0) / (x1 - x0)) * (W - L - R);
  const py = (y: number) => H - B - ((y - y0) / (y1 - y0)) * (H - B - T);
  const sorted = points.slice().sort((a, b) => a.sizeBytes - b.sizeBytes);
  const line = sorted.map((p, i) => `${i ? 'L' : 'M'}${px(p.sizeBytes).toFixed(1)},${py(p.metrics.sqnrDb).toFixed(1)}`).join(' ');
  const key = chosen?.join('\u0000');
  const dots = sorted.map((p) => {
    const isChosen = p.kept.join('\u0000') === key;
    return `<circle cx="${px(p.sizeBytes).toFixed(1)}" cy="${py(p.metrics.sqnrDb).toFixed(1)}" r="${isChosen ? 6 : 3.5}" ${p.verified ? `fill="${isChosen ? '#ef4444' : '#3b82f6'}"` : 'fill="none" stroke="#3b82f6" stroke-dasharray="2 1"'}><title>${escapeHtml(`${p.kept.length} kept: ${p.sizeBytes} bytes, ${p.verified ? '' : '~'}${fmt(p.metrics.sqnrDb)} dB${p.verified ? ' (measured)' : ' (predicted from estimates)'}`)}</title></circle>`;
  }).join('');
  return `<svg class="chart" width="${W}" height="${H}" role="img" aria-label="Pareto curve: model size against output SQNR">
<line x1="${L}" y1="${H - B}" x2="${W - R}" y2="${H - B}" stroke="currentColor"/><line x1="${L}" y1="${T}" x2="${L}" y2="${H - B}" stroke="currentColor"/>
<text x="${L}" y="${H - 22}" font-size="11">${escapeHtml(x0)} B</text><text x="${W - R}" y="${H - 22}" font-size="11" text-anchor="end">${escapeHtml(x1)} B</text>
<text x="${(W + L) / 2}" y="${H - 6}" font-size="12" text-anchor="middle">model size (bytes; float model ${escapeHtml(floatSize)} B)</text>
<text x="${L - 6}" y="${py(y1) + 4}" font-size="11" text-anchor="end">${escapeHtml(fmt(y1))}</text><text x="${L - 6}" y="${py(y0) + 4}" font-size="11" text-anchor="end">${escapeHtml(fmt(y0))}</text>
<text x="14" y="${(H - B + T) / 2}" font-size="12" transform="rotate(-90 14 ${(H - B + T) / 2})" text-anchor="middle">output SQNR (dB)</text>
<path d="${line}" fill="none" stroke="#3b82f6" stroke-width="1.5"/>${dots}</svg>`;
}

function layerRows(report: AnalysisReport): string {
  const ids = report.formats.map((f) => f.id);
  return report.layers.map((l: LayerReport) => {
    const diag = l.diagnoses.map((d) => `<div class="diag ${escapeHtml(d.severity)}"><b>${escapeHtml(d.code)}</b>: ${escapeHtml(d.message)} <i>${escapeHtml(d.suggestion)}</i> <span class="ev">${escapeHtml(Object.entries(d.evidence).map(([k, v]) => `${k}=${+Number(v).toPrecision(4)}`).join(', '))}</span></div>`).join('');
    const prim = l.formats[report.primaryFormat];
    return `<tr><td class="n">${l.rank}</td><td>${escapeHtml(l.name)}</td><td>${escapeHtml(l.kind)}</td><td class="n">${l.params}</td>${ids.map((id, i) => barCell(l.formats[id]?.isolated?.sqnrDb, PALETTE[i % PALETTE.length], l.formats[id]?.estimate)).join('')}<td class="n">${fmt(prim?.localSqnrDb)}</td><td class="n">${fmt(prim?.allButOne?.sqnrDb)}</td></tr>${diag ? `<tr class="dr"><td></td><td colspan="${ids.length + 5}">${diag}</td></tr>` : ''}`;
  }).join('\n');
}

/** Per layer the remedy the recommendation chose and the measured configuration without it. */
function remediesTable(report: AnalysisReport): string {
  const rec = report.recommendation;
  if (!rec?.remedies?.length) return '';
  const rows = rec.remedies.map((m) => `<tr><td>${escapeHtml(m.layer)}</td><td>${m.remedy === 'keep' ? `keep in ${escapeHtml(rec.higher.id)}` : `repair: ${escapeHtml(m.algorithm ?? '')} at ${escapeHtml(rec.base.id)}`}</td><td class="n">${m.extraBytes}</td>${metricsCells(m.without)}</tr>`).join('');
  return `<h3>Remedies (each measured by undoing it in the recommended configuration)</h3>
<table><tr><th>layer</th><th>remedy</th><th>extra bytes</th><th>SQNR dB without</th><th>cosine</th><th>KL</th><th>top-1 agree</th><th>accuracy without</th></tr>${rows}</table>`;
}

/** Per layer the output SQNR after each repair algorithm next to plain rounding. */
function repairTable(report: AnalysisReport): string {
  const layers = report.layers.filter((l) => l.repair);
  if (!layers.length) return '';
  const algs = [...new Set(layers.flatMap((l) => Object.keys(l.repair!.algorithms)))];
  const skipped = report.layers.filter((l) => !l.repair && l.repairNotComputed === 'not-decisive');
  const rows = report.layers.filter((l) => l.repair || l.repairNotComputed).map((l) => l.repair
    ? `<tr><td>${escapeHtml(l.name)}</td><td class="n">${fmt(l.repair.rtnSqnrDb)}</td>${algs.map((a) => `<td class="n">${fmt(l.repair!.algorithms[a])}</td>`).join('')}<td>${escapeHtml(l.repair.best ?? 'rounding')}</td></tr>`
    : `<tr><td>${escapeHtml(l.name)}</td><td colspan="${algs.length + 2}"><em>${escapeHtml(REPAIR_NOT_COMPUTED[l.repairNotComputed!])}</em></td></tr>`).join('');
  return `<h2>What repair gives</h2>
<p>Layer output SQNR (dB) at ${escapeHtml(layers[0].repair!.weights)} weights on the calibration data (float inputs): plain rounding next to each repair algorithm.${skipped.length ? ` Repair was run on ${layers.length} layer(s), those the recommendation can hinge on; the other ${skipped.length} are not computed (<code>--measure all</code> computes every layer).` : ''}</p>
<table><tr><th>layer</th><th>rounding</th>${algs.map((a) => `<th>${escapeHtml(a)}</th>`).join('')}<th>best</th></tr>${rows}</table>`;
}

/** The standalone HTML page of a report (every string escaped). */
export function renderHtmlReport(report: AnalysisReport): string {
  const rec = report.recommendation;
  const ids = report.formats.map((f) => f.id);
  const formats = report.formats.map((f, i) => `<tr><td><span class="sw" style="background:${PALETTE[i % PALETTE.length]}"></span>${escapeHtml(f.id)}</td><td>${escapeHtml(f.weights)}</td><td>${escapeHtml(f.activations)}</td>${report.allQuantized[f.id] || report.allQuantizedEstimate?.[f.id] === undefined ? metricsCells(report.allQuantized[f.id]) : `<td class="n" title="first-order estimate, not measured"><em>~${fmt(report.allQuantizedEstimate[f.id])} (est.)</em></td><td class="n">–</td><td class="n">–</td><td class="n">–</td><td class="n">–</td>`}</tr>`).join('');
  const warnings = report.warnings.map((w) => `<li>${escapeHtml(w)}</li>`).join('');
  const t = report.timings;
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<title>QuantLens report: ${escapeHtml(report.model.file)}</title>
<style>
body{font:14px system-ui,sans-serif;margin:24px;color:#1f2937;background:#fff}
@media (prefers-color-scheme: dark){body{color:#e5e7eb;background:#111827}table th{background:#1f2937!important}}
table{border-collapse:collapse;margin:8px 0 20px}th,td{padding:3px 8px;border-bottom:1px solid #8884;text-align:left;vertical-align:top}
th{background:#f3f4f6;position:sticky;top:0}td.n{text-align:right;font-variant-numeric:tabular-nums}td.bar{white-space:nowrap;font-variant-numeric:tabular-nums}
.sw{display:inline-block;width:10px;height:10px;margin-right:6px}.diag{margin:2px 0}.diag.warning b{color:#d97706}.diag.error b{color:#dc2626}.diag.info b{color:#2563eb}
.ev{color:#6b7280;font-size:12px}.chart{color:inherit}.met{font-weight:bold}.met.no{color:#dc2626}.met.yes{color:#16a34a}
</style></head><body>
<h1>QuantLens sensitivity report</h1>
<p><b>Model</b> ${escapeHtml(report.model.file)} (opset ${report.model.opset}, ${report.model.layerCount} quantizable layers, ${report.model.params} weights${report.model.macs !== undefined ? `, ${report.model.macs} MACs` : ''})<br>
<b>Data</b> ${report.data.synthetic ? 'synthetic' : 'real'} ${escapeHtml(report.data.kind)}, ${report.data.samples} samples from ${escapeHtml(report.data.source)}${report.data.labels ? `, labeled (float accuracy ${pct(report.floatAccuracy)})` : ''}<br>
<b>Runtime</b> ${escapeHtml(report.tool.runtime)}, QuantLens ${escapeHtml(report.tool.version)}, ${escapeHtml(report.createdAt)}<br>
<b>Time</b> ${(t.totalMs / 1000).toFixed(1)} s (capture ${(t.captureMs / 1000).toFixed(1)} s, sensitivity ${(t.sensitivityMs / 1000).toFixed(1)} s${t.recommendationMs !== undefined ? `, recommendation ${(t.recommendationMs / 1000).toFixed(1)} s` : ''})</p>
${warnings ? `<h2>Warnings</h2><ul>${warnings}</ul>` : ''}
<h2>Every layer quantized</h2>
<table><tr><th>format</th><th>weights</th><th>activations</th><th>SQNR dB</th><th>cosine</th><th>KL</th><th>top-1 agree</th><th>accuracy</th></tr>${formats}</table>
${rec ? `<h2>Recommendation</h2>
<p class="met ${rec.met ? 'yes' : 'no'}">${escapeHtml(rec.message)}</p>
<p>Base ${escapeHtml(rec.base.id)} (${escapeHtml(rec.base.weights)} / ${escapeHtml(rec.base.activations)}), kept layers in ${escapeHtml(rec.higher.id)} (${escapeHtml(rec.higher.weights)} / ${escapeHtml(rec.higher.activations)}).
Size ${rec.sizeBytes} B (base ${rec.baseSizeBytes} B, float ${rec.floatSizeBytes} B). Kept: ${rec.keep.map(escapeHtml).join(', ') || 'none'}.</p>
<table><tr><th>configuration</th><th>SQNR dB</th><th>cosine</th><th>KL</th><th>top-1 agree</th><th>accuracy</th></tr><tr><td>recommended (measured)</td>${metricsCells(rec.metrics)}</tr></table>
${remediesTable(report)}
<h3>Pareto curve (every point measured)</h3>${paretoSvg(rec.pareto, rec.keep, rec.floatSizeBytes)}` : ''}
${repairTable(report)}
<h2>Layers</h2>
<p>Bars: output SQNR (dB, scale 0–${BAR_MAX_DB}) with only that layer quantized, per format. Local and all-but-one are for ${escapeHtml(report.primaryFormat)}.</p>
<table><tr><th>rank</th><th>layer</th><th>kind</th><th>params</th>${ids.map((id) => `<th>${escapeHtml(id)}</th>`).join('')}<th>local dB</th><th>all-but-one dB</th></tr>
${layerRows(report)}
</table>
</body></html>
`;
}
