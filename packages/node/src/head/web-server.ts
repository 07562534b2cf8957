import {
  createServer,
  type IncomingMessage,
  type OutgoingHttpHeaders,
  type Server,
  type ServerResponse,
} from 'node:http'
import type { WebGuard } from './web-guard.js'

/** Answers a request the guard let through; `path` is its URL without the query. */
export type WebHandler = (req: IncomingMessage, res: ServerResponse, path: string) => void

/** A head's web server once it listens: the port it got (0 asks for a free one) and the server, to close. */
export interface ListeningWeb {
  port: number
  server: Server
}

/**
 * The one HTTP listener of the head's web pages (the metrics and the dashboard):
 * every request passes the guard (Host header, web token) before `answer` sees it.
 * Resolves once it listens; rejects if it can't (a port in use).
 */
export async function listenWeb(
  port: number,
  host: string,
  guard: WebGuard,
  answer: WebHandler,
): Promise<ListeningWeb> {
  const server = createServer((req, res) => {
    if (guard.allows(req, res)) answer(req, res, (req.url ?? '/').split('?')[0] as string)
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, host, () => resolve())
  })
  const address = server.address()
  return { port: typeof address === 'object' && address !== null ? address.port : port, server }
}

/** Ends a request with a plain-text answer: a refusal, an error or a "not here". */
export function answerText(res: ServerResponse, status: number, text: string, headers: OutgoingHttpHeaders = {}): void {
  res.writeHead(status, { 'content-type': 'text/plain', ...headers }).end(text)
}
