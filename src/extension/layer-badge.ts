/** A layer's sensitivity badge for the sidebar: text, codicon and theme colour id. Pure; no vscode import. */
import type { LayerReport } from '../shared/report';

/** What the tree shows for a layer. */
export interface LayerBadge { text: string; icon: string; color?: string; tooltip?: string }

/** The badge from the layer's result under the primary format: red < 20 dB, yellow < 30 dB, green otherwise. */
export function layerBadge(layer: LayerReport | undefined, primaryFormat: string | undefined): LayerBadge {
  if (!layer) return { text: '', icon: 'symbol-method' };
  const fid = primaryFormat && layer.formats[primaryFormat] ? primaryFormat : Object.keys(layer.formats)[0];
  const r = fid ? layer.formats[fid] : undefined;
  const db = r?.isolated?.sqnrDb ?? r?.localSqnrDb ?? r?.weightSqnrDb;
  if (db === undefined || Number.isNaN(db)) return { text: layer.rank > 0 ? `#${layer.rank}` : '', icon: 'circle-outline' };
  const text = `${fid} ${Number.isFinite(db) ? db.toFixed(1) : '∞'} dB${layer.rank > 0 ? ` · rank ${layer.rank}` : ''}`;
  const tooltip = `${text} (rank by ${primaryFormat ?? fid}, only this layer quantized)${layer.diagnoses.length ? `\n${layer.diagnoses.map((d) => d.message).join('\n')}` : ''}`;
  if (db < 20) return { text, icon: 'circle-filled', color: 'charts.red', tooltip };
  if (db < 30) return { text, icon: 'circle-filled', color: 'charts.yellow', tooltip };
  return { text, icon: 'circle-filled', color: 'charts.green', tooltip };
}
