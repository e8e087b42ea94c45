#!/usr/bin/env node
// Thin launcher so `npx feedshop <command>` works without a build step: tsx compiles on load.
import { register } from 'tsx/esm/api';
register();
await import('../src/cli.ts');
