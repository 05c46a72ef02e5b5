/** Custom search attributes set on every run, so runs can be filtered by sync in the Temporal UI. */
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

/** The sync's name (Keyword). `temporal operator search-attribute create --name EventSyncName --type Keyword`. */
export const EVENT_SYNC_NAME = defineSearchAttributeKey('EventSyncName', SearchAttributeType.KEYWORD);

/** All custom search attributes the tool needs, as the dev server's `--search-attribute` flags expect. */
export const SEARCH_ATTRIBUTES = [{ name: 'EventSyncName', type: 'Keyword' }] as const;
