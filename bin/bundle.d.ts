/**
 * The bundle of a TypeScript entry module (an absolute path): the path of its JavaScript,
 * rebuilt first if any of its sources changed; null when none can be made.
 */
export function bundle(entry: string): Promise<string | null>;
