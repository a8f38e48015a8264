import vm from 'node:vm'
import t from 'tap'
import { device, serve, stored } from '../helpers/client.js'
import { repoFile, runCommonJs } from '../helpers/miniprogram.js'

// examples/miniprogram as WeChat would run it: app.js, then the page, with
// require('weapp-auth-client') resolved to client/miniprogram_dist, and the
// simulated wx runtime against the real service.

interface PageInstance {
  data: Record<string, any>
  setData: (patch: Record<string, unknown>) => void
  [handler: string]: any
}

t.test('the example mini-program: launch and page share one login, the phone button, logout', async (t) => {
  const served = await serve(t)
  const wx = device(served)
  const warned: unknown[][] = []
  let app: Record<string, any> | undefined
  let page: Record<string, any> | undefined
  const sdk = await repoFile('client/miniprogram_dist/index.js')
  const modules: Record<string, () => unknown> = {
    'weapp-auth-client': () => runCommonJs(sdk, 'miniprogram_npm/weapp-auth-client/index.js', {}, context).exports,
    './config.js': () => ({ authUrl: served.url })
  }
  const require = (name: string): unknown => {
    const load = modules[name]
    if (load === undefined) throw new Error(`the example requires ${name}`)
    return load()
  }
  const globals = {
    wx,
    // The base library's timers (the SDK bounds wx.login with one).
    setTimeout,
    clearTimeout,
    require,
    console: { warn: (...args: unknown[]) => warned.push(args) },
    App: (definition: Record<string, any>) => { app = definition },
    Page: (definition: Record<string, any>) => { page = definition },
    getApp: () => app
  }
  const context = vm.createContext({ ...globals })
  runCommonJs(await repoFile('examples/miniprogram/app.js'), 'app.js', globals, context)
  runCommonJs(await repoFile('examples/miniprogram/pages/index/index.js'), 'pages/index/index.js', globals, context)
  const instance: PageInstance = { ...page!, data: { ...page!.data }, setData (patch) { Object.assign(this.data, patch) } }

  app!.onLaunch()
  await instance.onShow()
  t.match(instance.data, { user: { openid: served.fake.openid('wxtest0000000001', 'alice') }, message: '' })
  t.equal(wx.calls.login, 1, 'onLaunch and the page share one wx.login')
  t.equal(served.hits('POST /v1/auth/login'), 1)

  await instance.onGetPhoneNumber({ detail: { errMsg: 'getPhoneNumber:fail user deny' } })
  t.match(instance.data.message, /not shared/)
  await instance.onGetPhoneNumber({ detail: { errMsg: 'getPhoneNumber:ok', code: await wx.phoneNumberCode() } })
  t.equal(instance.data.phone, '13800138000')
  await instance.loadUser()
  t.equal(instance.data.user.phoneNumber, '13800138000')

  await instance.onLogout()
  t.match(instance.data, { user: null, message: 'logged out' })
  t.equal(stored(wx), '')
  t.equal(served.hits('POST /v1/auth/logout'), 1)
  t.same(warned, [])
})
