/** The detail pane of one layer: metrics per format, weight and activation histograms with clipping ranges, channel ranges, diagnoses. */
import type { FormatCandidate, LayerRemedy, LayerReport, RepairNotComputed } from '../src/shared/report';
import { h } from './dom';
import { formatBytes, formatCount, formatDb, formatNumber, formatPercent, formatShape } from './format';
import { evidenceText } from './words';
import { channelRangeChart, histogramChart } from './svg-charts';

/** Why a layer's repair was not computed, in words. */
const REPAIR_NOT_COMPUTED_WHY: Record<RepairNotComputed, string> = {
  'not-decisive': 'not computed (not decisive: the recommendation does not hinge on this layer; analyze with "measure: all" to compute it)',
  'too-large': 'not computed (too large to repair in reasonable time: fan-in over 8192 or over 64M weight values)',
  'out-of-reach': 'not computed (the target is out of reach even with every layer in the higher format: no repair at the base format can change the recommendation)',
};

/** Renders the detail of a layer (or a hint when none is selected). */
export function layerDetail(l: LayerReport | undefined, formats: readonly FormatCandidate[], primaryFormat?: string, remedy?: LayerRemedy, formatIds?: { base: string; higher: string }): HTMLElement {
  if (!l) return h('section', { class: 'detail empty', 'aria-label': 'Layer detail' }, h('p', { class: 'hint' }, 'Select a layer to see its histograms, channel ranges and diagnosis.'));
  const ids = formats.length ? formats.map((f) => f.id) : Object.keys(l.formats);
  const metricRows = ids.map((id) => {
    const r = l.formats[id];
    return h('tr', {},
      h('th', { scope: 'row' }, id),
      h('td', {}, formatDb(r?.weightSqnrDb)),
      h('td', {}, formatDb(r?.localSqnrDb)),
      r?.isolated || r?.estimate === undefined ? h('td', {}, formatDb(r?.isolated?.sqnrDb)) : h('td', { class: 'estimated', title: 'first-order estimate, not measured' }, h('em', {}, `~${formatDb(r.estimate)} (est.)`)),
      h('td', {}, r?.isolated?.top1Agreement !== undefined ? formatPercent(r.isolated.top1Agreement) : '–'),
      h('td', {}, formatDb(r?.allButOne?.sqnrDb)),
    );
  });
  const ws = l.weightStats;
  const weightClip = ws ? { lo: -ws.absMax, hi: ws.absMax } : undefined;
  const act = l.activation;
  return h('section', { class: 'detail', 'aria-label': `Detail of ${l.name}` },
    h('h3', { class: 'detail-title', title: l.name }, l.name),
    h('p', { class: 'meta' }, `node #${l.nodeIndex} · ${l.opType} · ${l.kind} · ${formatCount(l.params)} params${l.macs ? ` · ${formatCount(l.macs)} MACs` : ''}${l.weightShape ? ` · weight ${formatShape(l.weightShape)}` : ''} · rank ${l.rank > 0 ? `${l.rank} by ${primaryFormat ?? 'the primary format'}` : '–'}`),
    remedy ? h('p', { class: 'remedy' }, h('strong', {}, 'Remedy: '), remedy.remedy === 'keep' ? `kept in ${formatIds?.higher ?? 'higher precision'} (+${formatBytes(remedy.extraBytes)})` : remedy.remedy === 'repair' ? `repaired at ${formatIds?.base ?? 'the base format'} with ${remedy.algorithm ?? 'a rounding algorithm'} (no extra bytes)` : `${formatIds?.base ?? 'base format'}, rounded to nearest`,
      remedy.without ? ` · without it the recommendation measures output SQNR ${formatDb(remedy.without.sqnrDb)}` : '') : null,
    repairLine(l),
    h('table', { class: 'metrics' },
      h('thead', {}, h('tr', {}, h('th', {}, 'format'), h('th', { title: 'SQNR of the quantized weights against the float weights' }, 'weight SQNR'), h('th', { title: 'SQNR of this layer\'s output, only it quantized, float inputs' }, 'layer output'), h('th', { title: 'SQNR of the model output with only this layer quantized' }, 'model output (isolated)'), h('th', { title: 'fraction of samples whose top-1 class matches the float model' }, 'top-1 agreement'), h('th', { title: 'SQNR of the model output with every layer quantized except this one' }, 'all but this layer'))),
      h('tbody', {}, ...metricRows)),
    l.diagnoses.length
      ? h('ul', { class: 'diagnoses' }, ...l.diagnoses.map((d) => h('li', { class: `diag sev-${d.severity}` },
        h('span', { class: 'sev-label' }, `${d.severity === 'error' ? 'Error' : d.severity === 'warning' ? 'Warning' : 'Note'}: `), h('strong', {}, d.message), ' ', h('span', { class: 'suggestion' }, d.suggestion),
        Object.keys(d.evidence).length ? h('ul', { class: 'evidence' }, ...Object.entries(d.evidence).map(([k, v]) => h('li', {}, evidenceText(k, v)))) : null)))
      : h('p', { class: 'hint' }, 'No diagnosis: nothing unusual found for this layer.'),
    h('div', { class: 'charts' },
      l.weightHistogram ? h('figure', {}, histogramChart(l.weightHistogram, weightClip, `Weight histogram of ${l.name}`), h('figcaption', {}, `weights${ws ? ` · range ±${formatNumber(ws.absMax)} · outlier ratio ${formatNumber(ws.outlierRatio)}` : ''}`)) : null,
      act ? h('figure', {}, histogramChart(act.histogram, { lo: act.calibratedMin, hi: act.calibratedMax }, `Activation histogram of ${act.tensor}`), h('figcaption', {}, `input activation · calibrated [${formatNumber(act.calibratedMin)}, ${formatNumber(act.calibratedMax)}] of [${formatNumber(act.min)}, ${formatNumber(act.max)}]`)) : null,
      ws?.channelAbsMax?.length ? h('figure', {}, channelRangeChart(ws.channelAbsMax, `Per-channel weight range of ${l.name}`), h('figcaption', {}, `per-channel |w| max · spread ${formatNumber(ws.channelRangeSpread)}×`)) : null,
    ),
  );
}

/** What repair gives on the layer (its output SQNR per algorithm next to rounding), or why it was not computed. */
function repairLine(l: LayerReport): HTMLElement | null {
  if (l.repair) {
    const algs = Object.entries(l.repair.algorithms).map(([a, db]) => ` · ${a} ${formatDb(db)}`).join('');
    return h('p', { class: 'repair' }, h('strong', {}, 'Repair: '), `at ${l.repair.weights}, layer output: rounding ${formatDb(l.repair.rtnSqnrDb)}${algs}`);
  }
  if (l.repairNotComputed) return h('p', { class: 'repair hint' }, h('strong', {}, 'Repair: '), REPAIR_NOT_COMPUTED_WHY[l.repairNotComputed]);
  return null;
}
