// XTS-AES known answers: IEEE Std 1619-2007, Annex B test vectors.
//
// Source of every hex string below: IEEE Std 1619-2007 Annex B ("XTS-AES-128 applied for a
// data unit of 32 bytes / 512 bytes", "XTS-AES-256 applied for a data unit of 512 bytes"),
// as reproduced in OpenSSL's test/recipes/30-test_evp_data/evpciph_aes_common.txt,
// "Title = AES XTS test vectors from IEEE Std 1619-2007". The Key there is Key1 || Key2 and
// the IV is the data unit sequence number as a 128-bit little-endian value: exactly our
// SectorCipher plain64 tweak, so the 512-byte vectors go through SectorCipher with
// first_sector = the vector's sequence number.
#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <memory>

#include "crypto/sector_cipher.h"
#include "kat_support.h"

namespace cafs::crypto {
namespace {

using testing::Counting;
using testing::Hex;

// IEEE 1619 vectors 4-9 share this key (Key1 = e's digits, Key2 = pi's digits).
constexpr std::string_view kKey128 =
    "2718281828459045235360287471352631415926535897932384626433832795";
// Vectors 10-14.
constexpr std::string_view kKey256 =
    "27182818284590452353602874713526624977572470936999595749669676273141592653589793238462643383"
    "279502884197169399375105820974944592";

// Vector 4 (sequence 0): plaintext = Counting(512).
constexpr std::string_view kCt4 =
    "27a7479befa1d476489f308cd4cfa6e2a96e4bbe3208ff25287dd3819616e89cc78cf7f5e543445f8333d8fa7f5600"
    "0005279fa5d8b5e4ad40e736ddb4d35412328063fd2aab53e5ea1e0a9f332500a5df9487d07a5c92cc512c8866c7e8"
    "60ce93fdf166a24912b422976146ae20ce846bb7dc9ba94a767aaef20c0d61ad02655ea92dc4c4e41a8952c651d331"
    "74be51a10c421110e6d81588ede82103a252d8a750e8768defffed9122810aaeb99f9172af82b604dc4b8e51bcb082"
    "35a6f4341332e4ca60482a4ba1a03b3e65008fc5da76b70bf1690db4eae29c5f1badd03c5ccf2a55d705ddcd86d449"
    "511ceb7ec30bf12b1fa35b913f9f747a8afd1b130e94bff94effd01a91735ca1726acd0b197c4e5b03393697e12682"
    "6fb6bbde8ecc1e08298516e2c9ed03ff3c1b7860f6de76d4cecd94c8119855ef5297ca67e9f3e7ff72b1e99785ca0a"
    "7e7720c5b36dc6d72cac9574c8cbbc2f801e23e56fd344b07f22154beba0f08ce8891e643ed995c94d9a69c9f1b5f4"
    "99027a78572aeebd74d20cc39881c213ee770b1010e4bea718846977ae119f7a023ab58cca0ad752afe656bb3c1725"
    "6a9f6e9bf19fdd5a38fc82bbe872c5539edb609ef4f79c203ebb140f2e583cb2ad15b4aa5b655016a8449277dbd477"
    "ef2c8d6c017db738b18deb4a427d1923ce3ff262735779a418f20a282df920147beabe421ee5319d0568";
// Vector 5 (sequence 1): plaintext = kCt4.
constexpr std::string_view kCt5 =
    "264d3ca8512194fec312c8c9891f279fefdd608d0c027b60483a3fa811d65ee59d52d9e40ec5672d81532b38b6b089"
    "ce951f0f9c35590b8b978d175213f329bb1c2fd30f2f7f30492a61a532a79f51d36f5e31a7c9a12c286082ff7d2394"
    "d18f783e1a8e72c722caaaa52d8f065657d2631fd25bfd8e5baad6e527d763517501c68c5edc3cdd55435c532d7125"
    "c8614deed9adaa3acade5888b87bef641c4c994c8091b5bcd387f3963fb5bc37aa922fbfe3df4e5b915e6eb514717b"
    "dd2a74079a5073f5c4bfd46adf7d282e7a393a52579d11a028da4d9cd9c77124f9648ee383b1ac763930e7162a8d37"
    "f350b2f74b8472cf09902063c6b32e8c2d9290cefbd7346d1c779a0df50edcde4531da07b099c638e83a755944df2a"
    "ef1aa31752fd323dcb710fb4bfbb9d22b925bc3577e1b8949e729a90bbafeacf7f7879e7b1147e28ba0bae940db795"
    "a61b15ecf4df8db07b824bb062802cc98a9545bb2aaeed77cb3fc6db15dcd7d80d7d5bc406c4970a3478ada8899b32"
    "9198eb61c193fb6275aa8ca340344a75a862aebe92eee1ce032fd950b47d7704a3876923b4ad62844bf4a09c4dbe8b"
    "4397184b7471360c9564880aedddb9baa4af2e75394b08cd32ff479c57a07d3eab5d54de5f9738b8d27f27a9f0ab11"
    "799d7b7ffefb2704c95c6ad12c39f1e867a4b7b1d7818a4b753dfd2a89ccb45e001a03a867b187f225dd";
// Vector 6 (sequence 2): plaintext = kCt5.
constexpr std::string_view kCt6 =
    "fa762a3680b76007928ed4a4f49a9456031b704782e65e16cecb54ed7d017b5e18abd67b338e81078f21edb7868d90"
    "1ebe9c731a7c18b5e6dec1d6a72e078ac9a4262f860beefa14f4e821018272e411a951502b6e79066e84252c3346f3"
    "aa62344351a291d4bedc7a07618bdea2af63145cc7a4b8d4070691ae890cd65733e7946e9021a1dffc4c59f159425e"
    "e6d50ca9b135fa6162cea18a939838dc000fb386fad086acce5ac07cb2ece7fd580b00cfa5e98589631dc25e8e2a3d"
    "af2ffdec26531659912c9d8f7a15e5865ea8fb5816d6207052bd7128cd743c12c8118791a4736811935eb982a53234"
    "9e31dd401e0b660a568cb1a4711f552f55ded59f1f15bf7196b3ca12a91e488ef59d64f3a02bf45239499ac6176ae3"
    "21c4a211ec545365971c5d3f4f09d4eb139bfdf2073d33180b21002b65cc9865e76cb24cd92c874c24c18350399a93"
    "6ab3637079295d76c417776b94efce3a0ef7206b15110519655c956cbd8b2489405ee2b09a6b6eebe0c53790a12a89"
    "98378b33a5b71159625f4ba49d2a2fdba59fbf0897bc7aabd8d707dc140a80f0f309f835d3da54ab584e501dfa0ee9"
    "77fec543f74186a802b9a37adb3e8291eca04d66520d229e60401e7282bef486ae059aa70696e0e305d777140a7a88"
    "3ecdcb69b9ff938e8a4231864c69ca2c2043bed007ff3e605e014bcf518138dc3a25c5e236171a2d01d6";
// Vector 7 (sequence 0xfd).
constexpr std::string_view kPt7 =
    "8e41b78c390b5af9d758bb214a67e9f6bf7727b09ac6124084c37611398fa45daad94868600ed391fb1acd4857a95b"
    "466e62ef9f4b377244d1c152e7b30d731aad30c716d214b707aed99eb5b5e580b3e887cf7497465651d4b60e604205"
    "1da3693c3b78c14489543be8b6ad0ba629565bba202313ba7b0d0c94a3252b676f46cc02ce0f8a7d34c0ed22912967"
    "3c1f61aed579d08a9203a25aac3a77e9db60267996db38df637356d9dcd1632e369939f2a29d89345c66e05066f1a3"
    "677aef18dea4113faeb629e46721a66d0a7e785d3e29af2594eb67dfa982affe0aac058f6e15864269b135418261fc"
    "3afb089472cf68c45dd7f231c6249ba0255e1e033833fc4d00a3fe02132d7bc3873614b8aee34273581ea0325c81f0"
    "270affa13641d052d36f0757d484014354d02d6883ca15c24d8c3956b1bd027bcf41f151fd8023c5340e5606f37e90"
    "fdb87c86fb4fa634b3718a30bace06a66eaf8f63c4aa3b637826a87fe8cfa44282e92cb1615af3a28e53bc74c7cba1"
    "a0977be9065d0c1a5dec6c54ae38d37f37aa35283e048e5530a85c4e7a29d7b92ec0c3169cdf2a805c7604bce60049"
    "b9fb7b8eaac10f51ae23794ceba68bb58112e293b9b692ca721b37c662f8574ed4dba6f88e170881c82cddc1034a0c"
    "a7e284bf0962b6b26292d836fa9f73c1ac770eef0f2d3a1eaf61d3e03555fd424eedd67e18a18094f888";
constexpr std::string_view kCt7 =
    "d55f684f81f4426e9fde92a5ff02df2ac896af63962888a97910c1379e20b0a3b1db613fb7fe2e07004329ea5c22bf"
    "d33e3dbe4cf58cc608c2c26c19a2e2fe22f98732c2b5cb844cc6c0702d91e1d50fc4382a7eba5635cd602432a2306a"
    "c4ce82f8d70c8d9bc15f918fe71e74c622d5cf71178bf6e0b9cc9f2b41dd8dbe441c41cd0c73a6dc47a348f6702f9d"
    "0e9b1b1431e948e299b9ec2272ab2c5f0c7be86affa5dec87a0bee81d3d50007edaa2bcfccb35605155ff36ed8edd4"
    "a40dcd4b243acd11b2b987bdbfaf91a7cac27e9c5aea525ee53de7b2d3332c8644402b823e94a7db26276d2d23aa07"
    "180f76b4fd29b9c0823099c9d62c519880aee7e9697617c1497d47bf3e571950311421b6b734d38b0db91eb85331b9"
    "1ea9f61530f54512a5a52a4bad589eb69781d537f23297bb459bdad2948a29e1550bf4787e0be95bb173cf5fab17da"
    "b7a13a052a63453d97ccec1a321954886b7a1299faaeecae35c6eaaca753b041b5e5f093bf83397fd21dd6b3012066"
    "fcc058cc32c3b09d7562dee29509b5839392c9ff05f51f3166aaac4ac5f238038a3045e6f72e48ef0fe8bc675e82c3"
    "18a268e43970271bf119b81bf6a982746554f84e72b9f00280a320a08142923c23c883423ff949827f29bbacdc1ccd"
    "b04938ce6098c95ba6b32528f4ef78eed778b2e122ddfd1cbdd11d1c0a6783e011fc536d63d053260637";
// Vector 8 (sequence 0xfe): plaintext = kCt7.
constexpr std::string_view kCt8 =
    "72efc1ebfe1ee25975a6eb3aa8589dda2b261f1c85bdab442a9e5b2dd1d7c3957a16fc08e526d4b1223f1b1232a11a"
    "f274c3d70dac57f83e0983c498f1a6f1aecb021c3e70085a1e527f1ce41ee5911a82020161529cd82773762daf5459"
    "de94a0a82adae7e1703c808543c29ed6fb32d9e004327c1355180c995a07741493a09c21ba01a387882da4f62534b8"
    "7bb15d60d197201c0fd3bf30c1500a3ecfecdd66d8721f90bcc4c17ee925c61b0a03727a9c0d5f5ca462fbfa0af1c2"
    "513a9d9d4b5345bd27a5f6e653f751693e6b6a2b8ead57d511e00e58c45b7b8d005af79288f5c7c22fd4f1bf7a898b"
    "03a5634c6a1ae3f9fae5de4f296a2896b23e7ed43ed14fa5a2803f4d28f0d3ffcf24757677aebdb47bb38837870894"
    "8a8d4126ed1839e0da29a537a8c198b3c66ab00712dd261674bf45a73d67f76914f830ca014b65596f27e4cf62de66"
    "125a5566df9975155628b400fbfb3a29040ed50faffdbb18aece7c5c44693260aab386c0a37b11b114f1c415aebb65"
    "3be468179428d43a4d8bc3ec38813eca30a13cf1bb18d524f1992d44d8b1a42ea30b22e6c95b199d8d182f8840b09d"
    "059585c31ad691fa0619ff038aca2c39a943421157361717c49d322028a74648113bd8c9d7ec77cf3c89c1ec8718ce"
    "ff8516d96b34c3c614f10699c9abc4ed0411506223bea16af35c883accdbe1104eef0cfdb54e12fb230a";
// Vector 9 (sequence 0xff): plaintext = kCt8.
constexpr std::string_view kCt9 =
    "3260ae8dad1f4a32c5cafe3ab0eb95549d461a67ceb9e5aa2d3afb62dece0553193ba50c75be251e08d1d08f108857"
    "6c7efdfaaf3f459559571e12511753b07af073f35da06af0ce0bbf6b8f5ccc5cea500ec1b211bd51f63b606bf65287"
    "96ca12173ba39b8935ee44ccce646f90a45bf9ccc567f0ace13dc2d53ebeedc81f58b2e41179dddf0d5a5c42f5d850"
    "6c1a5d2f8f59f3ea873cbcd0eec19acbf325423bd3dcb8c2b1bf1d1eaed0eba7f0698e4314fbeb2f1566d1b9253008"
    "cbccf45a2b0d9c5c9c21474f4076e02be26050b99dee4fd68a4cf890e496e4fcae7b70f94ea5a9062da0daeba1993d"
    "2ccd1dd3c244b8428801495a58b216547e7e847c46d1d756377b6242d2e5fb83bf752b54e0df71e889f3a2bb0f4c10"
    "805bf3c590376e3c24e22ff57f7fa965577375325cea5d920db94b9c336b455f6e894c01866fe9fbb8c8d3f70a2957"
    "285f6dfb5dcd8cbf54782f8fe7766d4723819913ac773421e3a31095866bad22c86a6036b2518b2059b4229d18c8c2"
    "ccbdf906c6cc6e82464ee57bddb0bebcb1dc645325bfb3e665ef7251082c88ebb1cf203bd779fdd38675713c8daadd"
    "17e1cabee432b09787b6ddf3304e38b731b45df5df51b78fcfb3d32466028d0ba36555e7e11ab0ee0666061d1645d9"
    "62444bc47a38188930a84b4d561395c73c087021927ca638b7afc8a8679ccb84c26555440ec7f10445cd";
// Vectors 10-14 (XTS-AES-256, plaintext = Counting(512)).
constexpr std::string_view kCt10 =
    "1c3b3a102f770386e4836c99e370cf9bea00803f5e482357a4ae12d414a3e63b5d31e276f8fe4a8d66b317f9ac683f"
    "44680a86ac35adfc3345befecb4bb188fd5776926c49a3095eb108fd1098baec70aaa66999a72a82f27d848b21d4a7"
    "41b0c5cd4d5fff9dac89aeba122961d03a757123e9870f8acf1000020887891429ca2a3e7a7d7df7b10355165c8b9a"
    "6d0a7de8b062c4500dc4cd120c0f7418dae3d0b5781c34803fa75421c790dfe1de1834f280d7667b327f6c8cd7557e"
    "12ac3a0f93ec05c52e0493ef31a12d3d9260f79a289d6a379bc70c50841473d1a8cc81ec583e9645e07b8d9670655b"
    "a5bbcfecc6dc3966380ad8fecb17b6ba02469a020a84e18e8f84252070c13e9f1f289be54fbc481457778f616015e1"
    "327a02b140f1505eb309326d68378f8374595c849d84f4c333ec4423885143cb47bd71c5edae9be69a2ffeceb1bec9"
    "de244fbe15992b11b77c040f12bd8f6a975a44a0f90c29a9abc3d4d893927284c58754cce294529f8614dcd2aba991"
    "925fedc4ae74ffac6e333b93eb4aff0479da9a410e4450e0dd7ae4c6e2910900575da401fc07059f645e8b7e9bfdef"
    "33943054ff84011493c27b3429eaedb4ed5376441a77ed43851ad77f16f541dfd269d50d6a5f14fb0aab1cbb4c1550"
    "be97f7ab4066193c4caa773dad38014bd2092fa755c824bb5e54c4f36ffda9fcea70b9c6e693e148c151";
constexpr std::string_view kCt11 =
    "77a31251618a15e6b92d1d66dffe7b50b50bad552305ba0217a610688eff7e11e1d0225438e093242d6db274fde801"
    "d4cae06f2092c728b2478559df58e837c2469ee4a4fa794e4bbc7f39bc026e3cb72c33b0888f25b4acf56a2a9804f1"
    "ce6d3d6e1dc6ca181d4b546179d55544aa7760c40d06741539c7e3cd9d2f6650b2013fd0eeb8c2b8e3d8d240ccae2d"
    "4c98320a7442e1c8d75a42d6e6cfa4c2eca1798d158c7aecdf82490f24bb9b38e108bcda12c3faf9a21141c3613b58"
    "367f922aaa26cd22f23d708dae699ad7cb40a8ad0b6e2784973dcb605684c08b8d6998c69aac049921871ebb65301a"
    "4619ca80ecb485a31d744223ce8ddc2394828d6a80470c092f5ba413c3378fa6054255c6f9df4495862bbb3287681f"
    "931b687c888abf844dfc8fc28331e579928cd12bd2390ae123cf03818d14dedde5c0c24c8ab018bfca75ca096f2d53"
    "1f3d1619e785f1ada437cab92e980558b3dce1474afb75bfedbf8ff54cb2618e0244c9ac0d3c66fb51598cd2db11f9"
    "be39791abe447c63094f7c453b7ff87cb5bb36b7c79efb0872d17058b83b15ab0866ad8a58656c5a7e20dbdf308b24"
    "61d97c0ec0024a2715055249cf3b478ddd4740de654f75ca686e0d7345c69ed50cdc2a8b332b1f8824108ac937eb05"
    "0585608ee734097fc09054fbff89eeaeea791f4a7ab1f9868294a4f9e27b42af8100cb9d59cef9645803";
constexpr std::string_view kCt12 =
    "e387aaa58ba483afa7e8eb469778317ecf4cf573aa9d4eac23f2cdf914e4e200a8b490e42ee646802dc6ee2b471b27"
    "8195d60918ececb44bf79966f83faba0499298ebc699c0c8634715a320bb4f075d622e74c8c932004f25b41e361025"
    "b5a87815391f6108fc4afa6a05d9303c6ba68a128a55705d415985832fdeaae6c8e19110e84d1b1f199a2692119edc"
    "96132658f09da7c623efcec712537a3d94c0bf5d7e352ec94ae5797fdb377dc1551150721adf15bd26a8efc2fcaad5"
    "6881fa9e62462c28f30ae1ceaca93c345cf243b73f542e2074a705bd2643bb9f7cc79bb6e7091ea6e232df0f9ad0d6"
    "cf502327876d82207abf2115cdacf6d5a48f6c1879a65b115f0f8b3cb3c59d15dd8c769bc014795a1837f3901b5845"
    "eb491adfefe097b1fa30a12fc1f65ba22905031539971a10f2f36c321bb51331cdefb39e3964c7ef079994f5b69b2e"
    "dd83a71ef549971ee93f44eac3938fcdd61d01fa71799da3a8091c4c48aa9ed263ff0749df95d44fef6a0bb578ec69"
    "456aa5408ae32c7af08ad7ba8921287e3bbee31b767be06a0e705c864a769137df28292283ea81a2480241b44d9921"
    "cdbec1bc28dc1fda114bd8e5217ac9d8ebafa720e9da4f9ace231cc949e5b96fe76ffc21063fddc83a6b8679c00d35"
    "e09576a875305bed5f36ed242c8900dd1fa965bc950dfce09b132263a1eef52dd6888c309f5a7d712826";
constexpr std::string_view kCt13 =
    "bf53d2dade78e822a4d949a9bc6766b01b06a8ef70d26748c6a7fc36d80ae4c5520f7c4ab0ac8544424fa405162fef"
    "5a6b7f229498063618d39f0003cb5fb8d1c86b643497da1ff945c8d3bedeca4f479702a7a735f043ddb1d6aaade3c4"
    "a0ac7ca7f3fa5279bef56f82cd7a2f38672e824814e10700300a055e1630b8f1cb0e919f5e942010a416e2bf48cb46"
    "993d3cb6a51c19bacf864785a00bc2ecff15d350875b246ed53e68be6f55bd7e05cfc2b2ed6432198a6444b6d8c247"
    "fab941f569768b5c429366f1d3f00f0345b96123d56204c01c63b22ce78baf116e525ed90fdea39fa469494d3866c3"
    "1e05f295ff21fea8d4e6e13d67e47ce722e9698a1c1048d68ebcde76b86fcf976eab8aa9790268b7068e017a8b9b74"
    "9409514f1053027fd16c3786ea1bac5f15cb79711ee2abe82f5cf8b13ae73030ef5b9e4457e75d1304f988d62dd6fc"
    "4b94ed38ba831da4b7634971b6cd8ec325d9c61c00f1df73627ed3745a5e8489f3a95c69639c32cd6e1d537a85f75c"
    "c844726e8a72fc0077ad22000f1d5078f6b866318c668f1ad03d5a5fced5219f2eabbd0aa5c0f460d183f04404a0d6"
    "f469558e81fab24a167905ab4c7878502ad3e38fdbe62a41556cec37325759533ce8f25f367c87bb5578d667ae93f9"
    "e2fd99bcbc5f2fbba88cf6516139420fcff3b7361d86322c4bd84c82f335abb152c4a93411373aaa8220";
constexpr std::string_view kCt14 =
    "64497e5a831e4a932c09be3e5393376daa599548b816031d224bbf50a818ed2350eae7e96087c8a0db51ad290bd00c"
    "1ac1620857635bf246c176ab463be30b808da548081ac847b158e1264be25bb0910bbc92647108089415d45fab1b3d"
    "2604e8a8eff1ae4020cfa39936b66827b23f371b92200be90251e6d73c5f86de5fd4a950781933d79a28272b782a2e"
    "c313efdfcc0628f43d744c2dc2ff3dcb66999b50c7ca895b0c64791eeaa5f29499fb1c026f84ce5b5c72ba1083cddb"
    "5ce45434631665c333b60b11593fb253c5179a2c8db813782a004856a1653011e93fb6d876c18366dd8683f53412c0"
    "c180f9c848592d593f8609ca736317d356e13e2bff3a9f59cd9aeb19cd482593d8c46128bb32423b37a9adfb482b99"
    "453fbe25a41bf6feb4aa0bef5ed24bf73c762978025482c13115e4015aac992e5613a3b5c2f685b84795cb6e9b2656"
    "d8c88157e52c42f978d8634c43d06fea928f2822e465aa6576e9bf419384506cc3ce3c54ac1a6f67dc66f3b30191e6"
    "98380bc999b05abce19dc0c6dcc2dd001ec535ba18deb2df1a101023108318c75dc98611a09dc48a0acdec676fabdf"
    "222f07e026f059b672b56e5cbc8e1d21bbd867dd927212054681d70ea737134cdfce93b6f82ae22423274e58a0821c"
    "c5502e2d0ab4585e94de6975be5e0b4efce51cd3e70c25a1fbbbd609d273ad5b0d59631c531f6a0a57b9";

struct SectorVector {
  const char* name;
  CipherId id;
  std::string_view key;
  std::uint64_t sequence;  // the data unit sequence number = our sector number
  Bytes plaintext;
  std::string_view ciphertext;
};

std::vector<SectorVector> SectorVectors() {
  return {
      {"IEEE1619-v4", CipherId::kAes128Xts, kKey128, 0, Counting(512), kCt4},
      {"IEEE1619-v5", CipherId::kAes128Xts, kKey128, 1, Hex(kCt4), kCt5},
      {"IEEE1619-v6", CipherId::kAes128Xts, kKey128, 2, Hex(kCt5), kCt6},
      {"IEEE1619-v7", CipherId::kAes128Xts, kKey128, 0xfd, Hex(kPt7), kCt7},
      {"IEEE1619-v8", CipherId::kAes128Xts, kKey128, 0xfe, Hex(kCt7), kCt8},
      {"IEEE1619-v9", CipherId::kAes128Xts, kKey128, 0xff, Hex(kCt8), kCt9},
      {"IEEE1619-v10", CipherId::kAes256Xts, kKey256, 0xff, Counting(512), kCt10},
      {"IEEE1619-v11", CipherId::kAes256Xts, kKey256, 0xffff, Counting(512), kCt11},
      {"IEEE1619-v12", CipherId::kAes256Xts, kKey256, 0xffffff, Counting(512), kCt12},
      {"IEEE1619-v13", CipherId::kAes256Xts, kKey256, 0xffffffff, Counting(512), kCt13},
      {"IEEE1619-v14", CipherId::kAes256Xts, kKey256, 0xffffffffff, Counting(512), kCt14},
  };
}

TEST(XtsKatTest, Ieee1619DataUnitsOf512BytesThroughSectorCipher) {
  for (const SectorVector& v : SectorVectors()) {
    SCOPED_TRACE(v.name);
    const Bytes expected = Hex(v.ciphertext);
    ASSERT_EQ(expected.size(), 512u);
    ASSERT_EQ(v.plaintext.size(), 512u);
    auto cipher = SectorCipher::Create(v.id, Hex(v.key), 512);
    ASSERT_TRUE(cipher.ok()) << cipher.status().ToString();

    Bytes out(512);
    ASSERT_TRUE((*cipher)->Encrypt(v.sequence, v.plaintext, MutableByteView(out)).ok());
    EXPECT_EQ(ToHex(out), ToHex(expected));

    Bytes back(512);
    ASSERT_TRUE((*cipher)->Decrypt(v.sequence, expected, MutableByteView(back)).ok());
    EXPECT_EQ(ToHex(back), ToHex(v.plaintext));

    // In place gives the same bytes.
    Bytes inplace = v.plaintext;
    ASSERT_TRUE((*cipher)->Encrypt(v.sequence, inplace, MutableByteView(inplace)).ok());
    EXPECT_EQ(inplace, expected);
  }
}

// Vectors 4-6 (sequences 0, 1, 2) and 7-9 (0xfd, 0xfe, 0xff) are consecutive data units under
// one key: one Encrypt call over three sectors must give the three published ciphertexts.
TEST(XtsKatTest, ConsecutiveVectorsInOneMultiSectorCall) {
  auto cipher = SectorCipher::Create(CipherId::kAes128Xts, Hex(kKey128), 512);
  ASSERT_TRUE(cipher.ok()) << cipher.status().ToString();
  struct Run {
    std::uint64_t first;
    Bytes plain;
    Bytes expected;
  };
  auto concat = [](std::initializer_list<Bytes> parts) {
    Bytes all;
    for (const Bytes& p : parts) all.insert(all.end(), p.begin(), p.end());
    return all;
  };
  const Run runs[] = {
      {0, concat({Counting(512), Hex(kCt4), Hex(kCt5)}), concat({Hex(kCt4), Hex(kCt5), Hex(kCt6)})},
      {0xfd, concat({Hex(kPt7), Hex(kCt7), Hex(kCt8)}), concat({Hex(kCt7), Hex(kCt8), Hex(kCt9)})},
  };
  for (const Run& r : runs) {
    SCOPED_TRACE(r.first);
    Bytes out(r.plain.size());
    ASSERT_TRUE((*cipher)->Encrypt(r.first, r.plain, MutableByteView(out)).ok());
    EXPECT_EQ(ToHex(out), ToHex(r.expected));
    Bytes back(out.size());
    ASSERT_TRUE((*cipher)->Decrypt(r.first, r.expected, MutableByteView(back)).ok());
    EXPECT_EQ(back, r.plain);
  }
}

// The 32-byte vectors (data units smaller than any sector we accept) go to the EVP layer
// that SectorCipher is built on: same cipher, same key layout, same tweak encoding.
struct CtxFree {
  void operator()(EVP_CIPHER_CTX* c) const { EVP_CIPHER_CTX_free(c); }
};

// Returns false if OpenSSL refuses the key.
bool EvpXts128(bool encrypt, ByteView key, ByteView iv, ByteView in, Bytes* out) {
  std::unique_ptr<EVP_CIPHER_CTX, CtxFree> ctx(EVP_CIPHER_CTX_new());
  if (!ctx || EVP_CipherInit_ex2(ctx.get(), EVP_aes_128_xts(), key.data(), iv.data(),
                                 encrypt ? 1 : 0, nullptr) != 1) {
    return false;
  }
  out->assign(in.size(), 0);
  int len = 0;
  return EVP_CipherUpdate(ctx.get(), out->data(), &len, in.data(), static_cast<int>(in.size())) ==
             1 &&
         len == static_cast<int>(in.size());
}

TEST(XtsKatTest, Ieee1619DataUnitsOf32BytesThroughEvp) {
  struct Short {
    const char* name;
    std::string_view key, iv, pt, ct;
  };
  const Short vectors[] = {
      {"IEEE1619-v2", "1111111111111111111111111111111122222222222222222222222222222222",
       "33333333330000000000000000000000",
       "4444444444444444444444444444444444444444444444444444444444444444",
       "c454185e6a16936e39334038acef838bfb186fff7480adc4289382ecd6d394f0"},
      {"IEEE1619-v3", "fffefdfcfbfaf9f8f7f6f5f4f3f2f1f022222222222222222222222222222222",
       "33333333330000000000000000000000",
       "4444444444444444444444444444444444444444444444444444444444444444",
       "af85336b597afc1a900b2eb21ec949d292df4c047e0b21532186a5971a227a89"},
  };
  for (const Short& v : vectors) {
    SCOPED_TRACE(v.name);
    Bytes out;
    ASSERT_TRUE(EvpXts128(true, Hex(v.key), Hex(v.iv), Hex(v.pt), &out));
    EXPECT_EQ(ToHex(out), v.ct);
    ASSERT_TRUE(EvpXts128(false, Hex(v.key), Hex(v.iv), Hex(v.ct), &out));
    EXPECT_EQ(ToHex(out), v.pt);
  }
}

// IEEE 1619 vector 1 has Key1 == Key2 (all zero). OpenSSL 3 refuses such a key for XTS
// encryption (the two halves must differ, as SP 800-38E / FIPS 140-3 IG C.I require), so the
// encrypt direction of vector 1 cannot be run: we check the refusal instead, and that
// SectorCipher::Create reports it as an error rather than handing out a cipher. The decrypt
// direction is still allowed by the default provider and is checked against the vector.
TEST(XtsKatTest, Vector1EqualKeyHalvesAreRefused) {
  const Bytes zero_key = Hex("0000000000000000000000000000000000000000000000000000000000000000");
  const Bytes iv = Hex("00000000000000000000000000000000");
  const Bytes pt = Hex("0000000000000000000000000000000000000000000000000000000000000000");
  const Bytes ct = Hex("917cf69ebd68b2ec9b9fe9a3eadda692cd43d2f59598ed858c02c2652fbf922e");

  Bytes out;
  EXPECT_FALSE(EvpXts128(true, zero_key, iv, pt, &out)) << "OpenSSL accepted Key1 == Key2";
  if (EvpXts128(false, zero_key, iv, ct, &out)) {
    EXPECT_EQ(out, pt);
  }

  for (CipherId id : {CipherId::kAes128Xts, CipherId::kAes256Xts}) {
    SCOPED_TRACE(std::string(CipherName(id)));
    Bytes halves(CipherKeySize(id), 0x5a);  // both halves equal, not only all-zero
    auto c = SectorCipher::Create(id, halves, 4096);
    ASSERT_FALSE(c.ok());
    EXPECT_TRUE(c.status().IsInvalidArgument()) << c.status().ToString();
    EXPECT_NE(c.status().message().find("xts"), std::string::npos)
        << "error should name the cipher: " << c.status().ToString();
  }
}

}  // namespace
}  // namespace cafs::crypto
