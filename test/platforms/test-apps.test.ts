import t from 'tap'
import { build } from '../helper.js'
import { PLATFORM_APPS, TEST_PLATFORMS, platformCode } from '../helpers/platforms.js'

// The test infrastructure every platform's login test stands on: build()
// configures one app per platform, each at its own fake.

t.test('build() configures one app per platform through APPS, each at its fake, next to the WeChat app', async (t) => {
  const { config, fake, platforms } = await build(t)
  t.same(config.apps.map((app) => app.platform), ['wechat', ...TEST_PLATFORMS])
  t.same(config.wechat.apps.map((app) => app.appid), ['wxtest0000000001'], 'the WeChat app is APP, as before')
  t.equal(config.wechat.apiBase, fake.url)
  for (const platform of TEST_PLATFORMS) {
    const app = config.apps.find((a) => a.platform === platform)
    t.equal(app?.appid, PLATFORM_APPS[platform].appid, platform)
    t.equal(app?.apiBase, platforms[platform].url, `${platform} talks to its fake`)
    t.match(platformCode(platforms, platform, 'ann'), /^[A-Za-z0-9_-]{20,}$/, `${platform}'s fake issues codes`)
  }
})
