/**
 * Reads server-sent events from a streaming response (the live availability stream); next() resolves with the next
 * `availability` or `product` event's data, or throws after `defaultTimeoutMs` (or its own) without one.
 */
export function eventReader(body: ReadableStream<Uint8Array>, defaultTimeoutMs: number) {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  return {
    async next(timeoutMs = defaultTimeoutMs): Promise<Record<string, unknown>> {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const end = buffer.indexOf('\n\n');
        if (end >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const data = /^data: (.*)$/m.exec(block);
          if (/^event: (availability|product)$/m.test(block) && data) return JSON.parse(data[1]!);
          continue;
        }
        const left = deadline - Date.now();
        if (left <= 0) throw new Error('no availability event in time');
        let timer: NodeJS.Timeout | undefined;
        const timeout = new Promise<never>((_, rej) => (timer = setTimeout(() => rej(new Error('no availability event in time')), left)));
        const chunk = await Promise.race([reader.read(), timeout]).finally(() => clearTimeout(timer));
        if (chunk.done) throw new Error('stream ended');
        buffer += decoder.decode(chunk.value, { stream: true });
      }
    },
    cancel: () => reader.cancel(),
  };
}
