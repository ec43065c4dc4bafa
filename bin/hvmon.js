#!/usr/bin/env node
// The hvmon command. hvmon is written in TypeScript and runs from its sources through tsx,
// so a fresh clone needs nothing but `npm ci`: no build step can go stale.
import { register } from 'tsx/esm/api';

register();
await import('../src/cli.ts');
