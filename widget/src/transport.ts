// The widget API's request URLs (the loader's polling is in widget.ts).
import type { Config } from './types';

export const apiUrl = ({ base_, key }: Config, path: string, params?: Record<string, unknown>): string => {
  const url = new URL('/v1/widget/' + path, base_);
  const all: Record<string, unknown> = { key, ...params };
  for (const name in all) if (all[name] != null) url.searchParams.set(name, all[name] as string);
  return url.href;
};
