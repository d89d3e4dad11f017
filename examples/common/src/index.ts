export { SeededRandom } from './seeded-random.js';
export { requireEmptyDirectory, runIfEntryPoint, startDemoBroker } from './demo-support.js';
