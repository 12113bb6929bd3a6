/** The detail pane of one layer: metrics per format, weight and activation histograms with clipping ranges, channel ranges, diagnoses. */
import type { FormatCandidate, LayerReport } from '../src/shared/report';
import { h } from './dom';
import { formatCount, formatDb, formatNumber, formatPercent, formatShape } from './format';
import { channelRangeChart, histogramChart } from './svg-charts';

/** Renders the detail of a layer (or a hint when none is selected). */
export function layerDetail(l: LayerReport | undefined, formats: readonly FormatCandidate[]): HTMLElement {
  if (!l) return h('section', { class: 'detail empty', 'aria-label': 'Layer detail' }, h('p', { class: 'hint' }, 'Select a layer to see its histograms, channel ranges and diagnosis.'));
  const ids = formats.length ? formats.map((f) => f.id) : Object.keys(l.formats);
  const metricRows = ids.map((id) => {
    const r = l.formats[id];
    return h('tr', {},
      h('th', { scope: 'row' }, id),
      h('td', {}, formatDb(r?.weightSqnrDb)),
      h('td', {}, formatDb(r?.localSqnrDb)),
      h('td', {}, formatDb(r?.isolated?.sqnrDb)),
      h('td', {}, r?.isolated?.top1Agreement !== undefined ? formatPercent(r.isolated.top1Agreement) : '–'),
      h('td', {}, formatDb(r?.allButOne?.sqnrDb)),
    );
  });
  const ws = l.weightStats;
  const weightClip = ws ? { lo: -ws.absMax, hi: ws.absMax } : undefined;
  const act = l.activation;
  return h('section', { class: 'detail', 'aria-label': `Detail of ${l.name}` },
    h('h3', { class: 'detail-title', title: l.name }, l.name),
    h('p', { class: 'meta' }, `${l.opType} · ${l.kind} · ${formatCount(l.params)} params${l.macs ? ` · ${formatCount(l.macs)} MACs` : ''}${l.weightShape ? ` · weight ${formatShape(l.weightShape)}` : ''} · rank ${l.rank > 0 ? l.rank : '–'}`),
    h('table', { class: 'metrics' },
      h('thead', {}, h('tr', {}, h('th', {}, 'format'), h('th', {}, 'weight'), h('th', {}, 'local'), h('th', {}, 'isolated'), h('th', {}, 'top-1'), h('th', {}, 'all-but-one'))),
      h('tbody', {}, ...metricRows)),
    l.diagnoses.length
      ? h('ul', { class: 'diagnoses' }, ...l.diagnoses.map((d) => h('li', { class: `diag sev-${d.severity}` },
        h('strong', {}, d.message), ' ', h('span', { class: 'suggestion' }, d.suggestion),
        Object.keys(d.evidence).length ? h('span', { class: 'evidence' }, ` (${Object.entries(d.evidence).map(([k, v]) => `${k} ${formatNumber(v)}`).join(', ')})`) : null)))
      : h('p', { class: 'hint' }, 'No diagnosis: nothing unusual found for this layer.'),
    h('div', { class: 'charts' },
      l.weightHistogram ? h('figure', {}, histogramChart(l.weightHistogram, weightClip, `Weight histogram of ${l.name}`), h('figcaption', {}, `weights${ws ? ` · range ±${formatNumber(ws.absMax)} · outlier ratio ${formatNumber(ws.outlierRatio)}` : ''}`)) : null,
      act ? h('figure', {}, histogramChart(act.histogram, { lo: act.calibratedMin, hi: act.calibratedMax }, `Activation histogram of ${act.tensor}`), h('figcaption', {}, `input activation · calibrated [${formatNumber(act.calibratedMin)}, ${formatNumber(act.calibratedMax)}] of [${formatNumber(act.min)}, ${formatNumber(act.max)}]`)) : null,
      ws?.channelAbsMax?.length ? h('figure', {}, channelRangeChart(ws.channelAbsMax, `Per-channel weight range of ${l.name}`), h('figcaption', {}, `per-channel |w| max · spread ${formatNumber(ws.channelRangeSpread)}×`)) : null,
    ),
  );
}
