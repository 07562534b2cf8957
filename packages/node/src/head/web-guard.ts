import { timingSafeEqual } from 'node:crypto'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { isIP } from 'node:net'
import { hostname } from 'node:os'
import { answerText } from './web-server.js'

/** Where the head's web pages (metrics, dashboard) listen unless told otherwise: this machine only. */
export const DEFAULT_WEB_HOST = '127.0.0.1'

export interface WebGuardInit {
  /** The address the server listens on: a name given here is accepted in the Host header too. */
  host: string
  /** When set, every request must carry it: `Authorization: Bearer <token>` or `?token=<token>`. */
  token?: string | undefined
}

/**
 * Checks each request to a head's web server before it is answered:
 * - the Host header must name this machine by an IP address, `localhost`, its
 *   host name or the listening host, so a page on another site can't reach
 *   the server through a name it points at 127.0.0.1 (DNS rebinding);
 * - with a token, the request must carry it.
 * A refused request is answered here (421 or 401) and `allows` says false.
 */
export class WebGuard {
  readonly #names: Set<string>
  readonly #token: Buffer | undefined

  constructor(init: WebGuardInit) {
    this.#names = new Set(['localhost', hostname().toLowerCase(), init.host.toLowerCase()])
    this.#token = init.token === undefined || init.token === '' ? undefined : Buffer.from(init.token)
  }

  /** Whether the request may be answered; if not, it has been answered with the reason. */
  allows(req: IncomingMessage, res: ServerResponse): boolean {
    const host = hostOf(req.headers.host)
    if (host === undefined || !(isIP(host) !== 0 || this.#names.has(host))) {
      answerText(res, 421, 'meshpool answers only requests addressed to this machine by its IP address or name\n')
      return false
    }
    if (this.#token !== undefined && !this.#hasToken(req)) {
      answerText(
        res,
        401,
        'this meshpool head needs its web token: ?token=<token> or Authorization: Bearer <token>\n',
        {
          'www-authenticate': 'Bearer',
        },
      )
      return false
    }
    return true
  }

  #hasToken(req: IncomingMessage): boolean {
    const token = this.#token as Buffer
    const header = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1]
    const query = new URL(req.url ?? '/', 'http://x').searchParams.get('token') ?? undefined
    for (const given of [header, query]) {
      if (given === undefined) continue
      const bytes = Buffer.from(given)
      if (bytes.length === token.length && timingSafeEqual(bytes, token)) return true
    }
    return false
  }
}

/** The host name of a Host header, without its port or IPv6 brackets, lower-cased. */
function hostOf(header: string | undefined): string | undefined {
  if (header === undefined || header === '') return undefined
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(header)
  if (bracketed !== null) return bracketed[1]?.toLowerCase()
  return header.replace(/:\d+$/, '').toLowerCase()
}
