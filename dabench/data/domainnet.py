"""DomainNet (Peng et al., ICCV 2019), the cleaned release: 586,575 images of 345 classes in six
domains (clipart, infograph, painting, quickdraw, real, sketch), with the authors' official
train/test split files (``<domain>_train.txt``, ``<domain>_test.txt``).

One zip per domain, so a domain can be fetched alone (``dabench data download domainnet
--domains clipart,sketch``). The checksums are the sha512 prefixes published with kwcoco's
DomainNet downloader (the authors publish none). Class names in the official label order.
"""
from dabench.data.archives import Archive
from dabench.data.base import DATASETS
from dabench.data.image_lists import ImageListDataset

HOST = "http://csr.bu.edu/ftp/visda/2019/multi-source/"
CLASSES = tuple("""
    aircraft_carrier airplane alarm_clock ambulance angel animal_migration ant anvil apple arm asparagus axe
    backpack banana bandage barn baseball baseball_bat basket basketball bat bathtub beach bear beard bed bee
    belt bench bicycle binoculars bird birthday_cake blackberry blueberry book boomerang bottlecap bowtie
    bracelet brain bread bridge broccoli broom bucket bulldozer bus bush butterfly cactus cake calculator
    calendar camel camera camouflage campfire candle cannon canoe car carrot castle cat ceiling_fan cello
    cell_phone chair chandelier church circle clarinet clock cloud coffee_cup compass computer cookie cooler
    couch cow crab crayon crocodile crown cruise_ship cup diamond dishwasher diving_board dog dolphin donut door
    dragon dresser drill drums duck dumbbell ear elbow elephant envelope eraser eye eyeglasses face fan feather
    fence finger fire_hydrant fireplace firetruck fish flamingo flashlight flip_flops floor_lamp flower
    flying_saucer foot fork frog frying_pan garden garden_hose giraffe goatee golf_club grapes grass guitar
    hamburger hammer hand harp hat headphones hedgehog helicopter helmet hexagon hockey_puck hockey_stick horse
    hospital hot_air_balloon hot_dog hot_tub hourglass house house_plant hurricane ice_cream jacket jail
    kangaroo key keyboard knee knife ladder lantern laptop leaf leg light_bulb lighter lighthouse lightning line
    lion lipstick lobster lollipop mailbox map marker matches megaphone mermaid microphone microwave monkey moon
    mosquito motorbike mountain mouse moustache mouth mug mushroom nail necklace nose ocean octagon octopus
    onion oven owl paintbrush paint_can palm_tree panda pants paper_clip parachute parrot passport peanut pear
    peas pencil penguin piano pickup_truck picture_frame pig pillow pineapple pizza pliers police_car pond pool
    popsicle postcard potato power_outlet purse rabbit raccoon radio rain rainbow rake remote_control rhinoceros
    rifle river roller_coaster rollerskates sailboat sandwich saw saxophone school_bus scissors scorpion
    screwdriver sea_turtle see_saw shark sheep shoe shorts shovel sink skateboard skull skyscraper sleeping_bag
    smiley_face snail snake snorkel snowflake snowman soccer_ball sock speedboat spider spoon spreadsheet square
    squiggle squirrel stairs star steak stereo stethoscope stitches stop_sign stove strawberry streetlight
    string_bean submarine suitcase sun swan sweater swing_set sword syringe table teapot teddy-bear telephone
    television tennis_racquet tent The_Eiffel_Tower The_Great_Wall_of_China The_Mona_Lisa tiger toaster toe
    toilet tooth toothbrush toothpaste tornado tractor traffic_light train tree triangle trombone truck trumpet
    t-shirt umbrella underwear van vase violin washing_machine watermelon waterslide whale wheel windmill
    wine_bottle wine_glass wristwatch yoga zebra zigzag
""".split())
# (zip path on the host, sha512 prefix of the zip, of <domain>_train.txt, of <domain>_test.txt)
SOURCES = {
    "clipart": ("groundtruth/clipart.zip", "3bcfb9ec1b4061e8d5b0b887d4ebd4a708732787fc563c6dfc2d",
                "400985ce2a0878df2d8e54f1996c4fc253e577c1f91136304e553b",
                "4d34a4a540d8b139499581875e2d18bbedd37c347233523d66beaf"),
    "infograph": ("infograph.zip", "47841f0d1b8606e4b02d508b250484d54f5cf04ef6c4875c6c5a39c",
                  "d9ed4d86e2ea20b44315699964b6b7dc09442f0539300444d9329d",
                  "700f2b5deaad3923b0b8b85aeb694b73f24b13255cf48db3e770eaf"),
    "painting": ("groundtruth/painting.zip", "4c98b02563075948668a298c488660fda1d1a7ed85fd69caa7985fba",
                 None, None),
    "quickdraw": ("quickdraw.zip", "127cce1dd57fc99992f8614de77d03ae8ed6af242973f7a013ec0a",
                  "7410e8a1debd769e0412725a0fcc646d83055d297b5f44a92f50308",
                  "07a97e84d723f58dea67683ae5ddf013ebc5d33b76deca9a5d34f72"),
    "real": ("real.zip", "751713d4592d1278b50bf69787988cfae280cabdac80ee34ec4016e",
             "a5a510fec614018546510d55c378bca008fcfd51062f6414583639e",
             "9586235e335340f065de720f99332bc906aa0ab147006a1a7ea4925"),
    "sketch": ("sketch.zip", "369b8b6d78ac61bfcc85f660d878ba5fc701524b82bbc2eb65ca9a",
               "ee92102f2b98f11765e6a97afbab15c60f2bac6e30fa7e1bc5a7db",
               "7384fc06670979911d7e1e9a34ba8a6cd20e9e77d6bc3536c739ff4"),
}
COUNTS = {"clipart": (33525, 14604), "infograph": (36023, 15582), "painting": (50416, 21850),
          "quickdraw": (120750, 51750), "real": (120906, 52041), "sketch": (48212, 20916)}


def _sha512(prefix):
    return None if prefix is None else f"sha512:{prefix}"


@DATASETS.register("domainnet")
class DomainNet(ImageListDataset):
    domains = tuple(SOURCES)
    folder = "domainnet"
    class_names = CLASSES
    archives = tuple(
        archive
        for domain, (zip_path, zip_sha, train_sha, test_sha) in SOURCES.items()
        for archive in (Archive(f"{domain}.zip", (HOST + zip_path,), _sha512(zip_sha), (domain,)),
                        Archive(f"{domain}_train.txt", (f"{HOST}domainnet/txt/{domain}_train.txt",),
                                _sha512(train_sha), (domain,)),
                        Archive(f"{domain}_test.txt", (f"{HOST}domainnet/txt/{domain}_test.txt",),
                                _sha512(test_sha), (domain,))))
    image_lists = {f"{d}/{split}": f"{d}_{split}.txt" for d in SOURCES for split in ("train", "test")}
    counts = {f"{d}/{split}": n for d, pair in COUNTS.items() for split, n in zip(("train", "test"), pair)}
    transductive = False
    protocol = "the authors' official train/test split files: train on <domain>_train, test on <domain>_test"
    licence = "fair use for non-commercial research (the authors' terms)"
    citation = ("Peng, Bai, Xia, Huang, Saenko, Wang. Moment Matching for Multi-Source Domain Adaptation. "
                "ICCV 2019")
