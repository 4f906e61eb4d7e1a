// The scenario list, in the order the runner runs them and the table shows them.
import type { Scenario } from '../lib/context.js';
import { produceBatch } from './produce-batch.js';

export const scenarios: Scenario[] = [produceBatch];
