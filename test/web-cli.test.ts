import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { meshpool, startHead, stopAll, tempDir } from './harness.js'
import { get } from './http-get.js'

afterEach(stopAll)

/** The status of one GET of `url`, sent to `via` (another address of this machine) when given. */
async function status(url: string, init: { via?: string; headers?: Record<string, string> } = {}): Promise<number> {
  return (await get(url, init)).status
}

/** The URL a head printed after `<what> at `. */
function printed(output: string, what: 'metrics' | 'dashboard'): string {
  const url = new RegExp(`^${what} at (http://\\S+)`, 'm').exec(output)?.[1]
  if (url === undefined) throw new Error(`no ${what} URL in the head's output:\n${output}`)
  return url
}

const WEB = ['--metrics-port', '0', '--dashboard-port', '0']

describe('meshpool head: where the metrics and dashboard listen, and their token', () => {
  it('prints URLs on 127.0.0.1 by default, which another address of this machine does not reach', async () => {
    const head = await startHead({ noWork: true, args: WEB })
    const dashboard = printed(head.output(), 'dashboard')
    const metrics = printed(head.output(), 'metrics')
    expect(dashboard).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/)
    expect(metrics).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/)
    expect(await status(dashboard)).toBe(200)
    await expect(status(dashboard, { via: '127.0.0.2' })).rejects.toMatchObject({ code: 'ECONNREFUSED' })
    await expect(status(metrics, { via: '127.0.0.2' })).rejects.toMatchObject({ code: 'ECONNREFUSED' })
  })

  it('--dashboard-host 0.0.0.0 and --metrics-host 0.0.0.0 open them to every interface', async () => {
    const head = await startHead({
      noWork: true,
      args: [...WEB, '--dashboard-host', '0.0.0.0', '--metrics-host', '0.0.0.0'],
    })
    const dashboard = printed(head.output(), 'dashboard')
    expect(dashboard).toMatch(/^http:\/\/0\.0\.0\.0:\d+\/$/)
    expect(await status(dashboard, { via: '127.0.0.2' })).toBe(200)
    expect(await status(printed(head.output(), 'metrics'), { via: '127.0.0.2' })).toBe(200)
  })

  it('--web-token-file (mode 0600) or MESHPOOL_WEB_TOKEN: a request without the token gets 401', async () => {
    const file = join(tempDir(), 'web.token')
    writeFileSync(file, 'file-token-4242\n', { mode: 0o600 })
    const head = await startHead({ noWork: true, args: [...WEB, '--web-token-file', file] })
    const dashboard = printed(head.output(), 'dashboard')
    expect(head.output()).toMatch(
      /^dashboard at http:\S+ \(with the web token: \?token=… or Authorization: Bearer …\)$/m,
    )
    expect(head.output()).not.toContain('file-token-4242')
    expect(await status(dashboard)).toBe(401)
    expect(await status(`${dashboard}?token=wrong`)).toBe(401)
    expect(await status(`${dashboard}?token=file-token-4242`)).toBe(200)
    const metrics = printed(head.output(), 'metrics')
    expect(await status(metrics)).toBe(401)
    expect(await status(metrics, { headers: { authorization: 'Bearer file-token-4242' } })).toBe(200)

    const fromEnv = await startHead({ noWork: true, args: WEB, env: { MESHPOOL_WEB_TOKEN: 'env-token-77' } })
    const page = printed(fromEnv.output(), 'dashboard')
    expect(await status(page)).toBe(401)
    expect(await status(`${page}?token=env-token-77`)).toBe(200)
  })

  it('refuses a web token file that others can read, with the chmod that fixes it', async () => {
    const file = join(tempDir(), 'web.token')
    writeFileSync(file, 'readable-token\n', { mode: 0o644 })
    const head = meshpool(['head', '--host', '127.0.0.1', '--port', '0', '--no-work', '--web-token-file', file])
    expect(await head.exited).toBe(2)
    expect(head.output()).toContain(
      `meshpool: the web token file ${file} can be read by other users (mode 644); run: chmod 600 ${file}`,
    )
  })
})
