#!/usr/bin/env node
// Entry point of the `dwh-import` CLI: runs the TypeScript sources through tsx's loader.
import { register } from 'tsx/esm/api';

register();
await import('../cli/main.ts');
