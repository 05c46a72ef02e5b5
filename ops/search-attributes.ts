/**
 * The custom search attributes the tool needs (`workflows/search-attributes.ts`), checked and created
 * through Temporal's operator service. On a self-hosted server or the dev server `apply` creates them;
 * Temporal Cloud manages search attributes in its own control plane, so there the error says how.
 */
import type { Client } from '@temporalio/client';
import proto from '@temporalio/proto';
import { SEARCH_ATTRIBUTES } from '../workflows/search-attributes.ts';

const IndexedValueType = proto.temporal.api.enums.v1.IndexedValueType;

/** A search attribute as the tool needs it. */
export interface SearchAttributeNeed {
  name: string;
  type: (typeof SEARCH_ATTRIBUTES)[number]['type'];
}

/** What the namespace lacks: missing attributes, ones with another type, or why it could not be checked. */
export interface SearchAttributeCheck {
  missing: SearchAttributeNeed[];
  wrongType: { name: string; expected: string; actual: string }[];
  /** Set when the server refused to list search attributes (e.g. Temporal Cloud without the permission). */
  unknown?: string;
}

const TYPE_CODES: Record<string, number> = {
  Text: IndexedValueType.INDEXED_VALUE_TYPE_TEXT,
  Keyword: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
  Int: IndexedValueType.INDEXED_VALUE_TYPE_INT,
  Double: IndexedValueType.INDEXED_VALUE_TYPE_DOUBLE,
  Bool: IndexedValueType.INDEXED_VALUE_TYPE_BOOL,
  Datetime: IndexedValueType.INDEXED_VALUE_TYPE_DATETIME,
  KeywordList: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD_LIST,
};

function typeName(code: number): string {
  return Object.entries(TYPE_CODES).find(([, c]) => c === code)?.[0] ?? `type ${code}`;
}

/** Compares the namespace's custom search attributes with what the tool needs. Never throws for a refusal: see `unknown`. */
export async function checkSearchAttributes(client: Client, namespace: string): Promise<SearchAttributeCheck> {
  let custom: Record<string, number>;
  try {
    const res = await client.connection.operatorService.listSearchAttributes({ namespace });
    custom = (res.customAttributes ?? {}) as Record<string, number>;
  } catch (e) {
    return { missing: [], wrongType: [], unknown: (e as Error).message };
  }
  const out: SearchAttributeCheck = { missing: [], wrongType: [] };
  for (const need of SEARCH_ATTRIBUTES) {
    const have = custom[need.name];
    if (have === undefined) out.missing.push({ ...need });
    else if (have !== TYPE_CODES[need.type]) out.wrongType.push({ name: need.name, expected: need.type, actual: typeName(have) });
  }
  return out;
}

/**
 * Creates the given search attributes in the namespace (idempotent: an existing one is left alone).
 * @throws Error naming each attribute and the command that creates it by hand when the server refuses.
 */
export async function createSearchAttributes(client: Client, namespace: string, needs: SearchAttributeNeed[]): Promise<void> {
  if (needs.length === 0) return;
  try {
    await client.connection.operatorService.addSearchAttributes({
      namespace,
      searchAttributes: Object.fromEntries(needs.map((n) => [n.name, TYPE_CODES[n.type]])),
    });
  } catch (e) {
    const how = needs.map((n) => `temporal operator search-attribute create --namespace ${namespace} --name ${n.name} --type ${n.type}`).join('; ');
    throw new Error(
      `cannot create the search attribute(s) ${needs.map((n) => n.name).join(', ')} in namespace ${namespace}: ${(e as Error).message}. ` +
        `Create them once by hand (${how}), or in Temporal Cloud under the namespace's settings`,
    );
  }
}
