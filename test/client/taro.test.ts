import t from 'tap'
import type { WxLike } from '../../client/dist/index.js'
import type { RuntimeSimulator } from '../../src/dev/runtime-simulator.js'
import { client, device, serve } from '../helpers/client.js'

type Options = Parameters<WxLike['request']>[0]
type Answer = { statusCode: number, data: unknown, header: Record<string, string>, errMsg: string }

/**
 * A stand-in for Taro (and uni-app, same shape): every API returns a promise,
 * callbacks are optional, and request interceptors rewrite the options first
 * (Taro.addInterceptor). It wraps the simulator, so the network is real.
 */
function taroLike (wx: RuntimeSimulator, interceptors: ((options: Options) => Options)[] = []) {
  const promised = <T>(
    call: (callbacks: { success: (r: T) => void, fail: (e: { errMsg: string }) => void }) => void,
    options: { success?: (r: T) => void, fail?: (e: { errMsg: string }) => void }
  ) => {
    return new Promise<T>((resolve, reject) => call({
      success: (result) => { options.success?.(result); resolve(result) },
      fail: (error) => { options.fail?.(error); reject(error) }
    }))
  }
  return {
    login: (options: Parameters<WxLike['login']>[0] = {}) => promised<{ code: string }>((callbacks) => wx.login(callbacks), options),
    request: (options: Options) => {
      const final = interceptors.reduce((o, intercept) => intercept(o), options)
      // Taro's promise gives what the interceptors made; only the promise is used by Taro apps.
      return promised<Answer>((callbacks) => wx.request({ ...final, ...callbacks }), {})
    },
    checkSession: (options: Parameters<WxLike['checkSession']>[0] = {}) => promised<{ errMsg: string }>((callbacks) => wx.checkSession(callbacks), options),
    getStorageSync: (key: string) => wx.getStorageSync(key),
    setStorageSync: (key: string, data: unknown) => wx.setStorageSync(key, data),
    removeStorageSync: (key: string) => wx.removeStorageSync(key)
  }
}

t.test('with a Taro-shaped object (promises, no callbacks on request, an interceptor adding a header) the client logs in and requests', async (t) => {
  const served = await serve(t)
  const wx = device(served)
  const seen: Record<string, string>[] = []
  const taro = taroLike(wx, [(options) => {
    const header = { ...options.header, 'X-App-Version': '1.2.3' }
    seen.push(header)
    return { ...options, header }
  }])
  const auth = client(served, wx, { wx: taro })
  t.equal((await auth.request({ url: '/v1/me' })).statusCode, 200)
  t.equal(wx.calls.login, 1)
  t.match(seen.at(-1), { Authorization: /^Bearer /, 'X-App-Version': '1.2.3' }, 'a merging interceptor keeps the token')
  await auth.logout()
  t.equal(served.hits('POST /v1/auth/logout'), 1)
})
