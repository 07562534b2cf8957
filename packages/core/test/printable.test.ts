import { printable } from '@meshpool/core'
import { describe, expect, it } from 'vitest'

describe('printable', () => {
  it('keeps ordinary text, tabs and non-ASCII letters as they are', () => {
    expect(printable('epoch 3\tloss 0.25 — ok, naïve 日本')).toBe('epoch 3\tloss 0.25 — ok, naïve 日本')
  })

  it('drops a window title (OSC, ended by BEL or ST) and the text it carried', () => {
    expect(printable('a\x1b]0;pwned\x07b')).toBe('ab')
    expect(printable('a\x1b]8;;http://evil\x1b\\link\x1b]8;;\x1b\\b')).toBe('alinkb')
    expect(printable('a\x1b]0;never ended')).toBe('a')
  })

  it('drops CSI sequences: screen clears, cursor moves, colours', () => {
    expect(printable('\x1b[2Jhi\x1b[1;1H\x1b[31mred\x1b[0m\x1b[?25l')).toBe('hired')
  })

  it('drops other ESC sequences, DCS strings and lone ESC', () => {
    expect(printable('a\x1bcb\x1b(Bc\x1bPq#0\x1b\\d\x1b')).toBe('abcd')
  })

  it('drops C0 controls but tab (newline, carriage return, backspace, BEL), DEL and C1', () => {
    expect(printable('a\rb\nc\bd\x07e\x00f\x7fg\x85h')).toBe('abcdefgh')
    expect(printable('a\x9b2Jb\x9d0;title\x9cc')).toBe('abc')
  })
})
