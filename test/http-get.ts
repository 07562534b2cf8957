import { request } from 'node:http'

export interface Answer {
  status: number
  body: string
}

/**
 * One GET of `url`, with the Host header and headers given, sent to `via`
 * (another address of this machine) when given. An answer that is a stream of
 * server-sent events resolves on its first event, and stays open.
 */
export function get(
  url: string,
  init: { host?: string; headers?: Record<string, string>; via?: string } = {},
): Promise<Answer> {
  const target = new URL(url)
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: init.via ?? target.hostname,
        port: target.port,
        path: `${target.pathname}${target.search}`,
        headers: { ...(init.host === undefined ? {} : { host: init.host }), ...init.headers },
      },
      (res) => {
        let body = ''
        res.setEncoding('utf8')
        res.on('data', (chunk: string) => {
          body += chunk
          if (res.headers['content-type'] === 'text/event-stream' && body.includes('\n\n')) {
            resolve({ status: res.statusCode ?? 0, body }) // and the page stays open, as a browser's would
          }
        })
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }))
      },
    )
    req.on('error', reject)
    req.end()
  })
}
