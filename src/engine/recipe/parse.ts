/** Parses recipe text into a jsonc-parser tree that keeps offsets, and indexes its fields and layer entries. */
import { findNodeAtOffset, getNodeValue, Node, ParseError, parseTree } from 'jsonc-parser';
import type { LayerSpec, Recipe } from '../../shared/recipe';

/** One `"key": value` pair of an object node, with its offsets. */
export interface PropertyEntry {
  /** The property's key. */
  key: string;
  /** The whole property (`"key": value`). */
  prop: Node;
  /** The key string node (offsets include the quotes). */
  keyNode: Node;
  /** The value node (missing while the user is typing). */
  valueNode?: Node;
}

/** One entry of the `layers` object. */
export type LayerEntry = PropertyEntry;

/** A parsed recipe document. */
export interface RecipeDoc {
  text: string;
  /** The root node (undefined for empty text). */
  root?: Node;
  /** JSON syntax errors; comments are allowed (the recipe readers accept them), trailing commas are reported. */
  syntaxErrors: ParseError[];
  /** The root object's properties in text order (duplicates included). */
  fields: PropertyEntry[];
  /** The last value of each root field (what JSON.parse would keep). */
  field: Map<string, PropertyEntry>;
  /** Entries of `layers` in text order (duplicates included). */
  layers: LayerEntry[];
}

/** Parses recipe text, keeping every node's offset. */
export function parseRecipeText(text: string): RecipeDoc {
  const syntaxErrors: ParseError[] = [];
  const root = parseTree(text, syntaxErrors, { disallowComments: false, allowTrailingComma: false, allowEmptyContent: true });
  const fields = root?.type === 'object' ? objectEntries(root) : [];
  const field = new Map<string, PropertyEntry>();
  for (const f of fields) field.set(f.key, f);
  const layersNode = field.get('layers')?.valueNode;
  const layers = layersNode?.type === 'object' ? objectEntries(layersNode) : [];
  return { text, root, syntaxErrors, fields, field, layers };
}

/** The properties of an object node in text order. */
export function objectEntries(obj: Node): PropertyEntry[] {
  const out: PropertyEntry[] = [];
  for (const prop of obj.children ?? []) {
    if (prop.type !== 'property') continue;
    const keyNode = prop.children?.[0];
    if (!keyNode || typeof keyNode.value !== 'string') continue;
    out.push({ key: keyNode.value, prop, keyNode, valueNode: prop.children?.[1] });
  }
  return out;
}

/** The value of a node as plain JS (undefined for no node). */
export function nodeValue(node: Node | undefined): unknown {
  return node ? getNodeValue(node) : undefined;
}

/** The layer entry whose key or value contains `offset`, if any. */
export function layerEntryAt(doc: RecipeDoc, offset: number): LayerEntry | undefined {
  return doc.layers.find((e) => offset >= e.prop.offset && offset <= e.prop.offset + e.prop.length);
}

/** The innermost node at `offset` (including the end of a node). */
export function nodeAt(doc: RecipeDoc, offset: number): Node | undefined {
  return doc.root ? findNodeAtOffset(doc.root, offset, true) : undefined;
}

/**
 * The recipe as far as it is well formed: fields of the wrong type are dropped, so callers can use
 * `effectiveLayerSpec` on it while the user is typing.
 */
export function lenientRecipe(doc: RecipeDoc): Pick<Recipe, 'defaults' | 'layers'> & Partial<Recipe> {
  const str = (n?: Node) => (n?.type === 'string' ? (n.value as string) : undefined);
  const spec = (n?: Node): LayerSpec => {
    const s: LayerSpec = {};
    if (n?.type !== 'object') return s;
    for (const e of objectEntries(n)) {
      if (e.key === 'weights' || e.key === 'activations' || e.key === 'calibration' || e.key === 'algorithm') {
        const v = str(e.valueNode);
        if (v !== undefined) s[e.key] = v;
      }
    }
    return s;
  };
  const layers: Record<string, LayerSpec | 'float'> = {};
  for (const e of doc.layers) {
    const v = e.valueNode;
    if (v?.type === 'string') { if (v.value === 'float') layers[e.key] = 'float'; } else if (v?.type === 'object') layers[e.key] = spec(v);
  }
  const model = str(doc.field.get('model')?.valueNode);
  return { defaults: spec(doc.field.get('defaults')?.valueNode), layers, ...(model !== undefined ? { model } : {}) };
}
